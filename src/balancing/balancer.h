// One small interface for every balancing strategy: a pick, and a notice when the server list
// changes (HAProxy's server up/down/weight-changed callbacks of lb_fwrr.c and friends, Envoy's
// host-set update to a load balancer).
//
// A strategy only chooses among candidates it is handed; which servers are candidates (healthy,
// not drained, not already tried, serving the model, backups only when every primary is down) is
// decided once, in Pool, for all strategies alike: a server going down or up, being ejected or
// drained reaches a strategy as a change of its candidates, with no call. Servers added to or
// removed from the list (a reload that keeps the service's definition, the admin API) reach it
// through on_servers_changed(), which keeps what the strategy holds for the servers that stay (a
// round-robin turn, a hash ring's points, smooth-weighted scores). A changed weight, backup flag or
// maxConnections makes a new ServerState (runtime/snapshot.h): one server removed, one added.
//
// Each worker thread owns its own Balancer instances (built from the same config and kept across
// snapshots, runtime/worker_pools.h), so a pick takes no lock; strategies that need a global view
// (least_request) read the shared atomic counters of ServerState.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "balancing/prompt_chain.h"
#include "balancing/server_state.h"
#include "config/config.h"

namespace modelgate::balancing {

// What a prompt-aware pick tells the caller about its choice, for the feedback after the answer.
struct PickNote {
  std::uint64_t predicted_cached = 0;  // prompt tokens predicted cached on the chosen server
  std::uint64_t charged = 0;           // tokens added to its pending_tokens (given back at the first token)
  std::uint64_t work = 0;              // the cost model's work for it (cost_model.h), for learning
  std::uint64_t sent = 0;              // its number among the server's picks (LlmState::picks)
  bool first_in_line = false;          // no prefill was queued ahead of it (its TTFT teaches the rate)
  bool indexed = false;                // the pick consulted the prefix index
};

struct PickContext {
  // Indices into the pool's server list that may be chosen; never empty, ascending, distinct.
  // Pool offers only servers of weight >= 1.
  std::span<const std::uint32_t> candidates;
  // Hash of the request's key (client IP, header, cookie or body field) for hashing strategies.
  std::uint64_t key_hash = 0;
  // The request's prompt as a block hash chain, for cache_aware; nullptr when not computed (only
  // services using a prompt-aware strategy pay for it).
  const PromptChain* prompt = nullptr;
  // Filled by prompt-aware strategies; may be nullptr.
  PickNote* note = nullptr;
};

using ServerList = std::vector<std::shared_ptr<ServerState>>;

// A new server list and, for each of its servers, its index in the old one (kAdded for a server
// that is new). Servers of the old list not named are removed.
struct MembershipChange {
  static constexpr std::uint32_t kAdded = UINT32_MAX;
  const ServerList& servers;
  std::span<const std::uint32_t> previous;  // parallel to servers
};

// `old` re-indexed for the new list: what the old list held for each server that stays, `fresh`
// for the added ones.
template <class T>
std::vector<T> remapped(const std::vector<T>& old, const MembershipChange& change, T fresh = T{}) {
  std::vector<T> out(change.servers.size(), fresh);
  for (std::size_t i = 0; i < out.size(); ++i) {
    const auto was = change.previous[i];
    if (was != MembershipChange::kAdded && was < old.size()) out[i] = old[was];
  }
  return out;
}

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Returns one element of ctx.candidates.
  virtual std::uint32_t pick(const PickContext& ctx) = 0;
  // The server list changed; later candidates index the new list. On the worker's thread,
  // between picks.
  virtual void on_servers_changed(const MembershipChange& change) = 0;
};

// A different seed on every call and every thread (random_device once per thread, then
// splitmix64), so each worker's random strategies draw their own sequence.
std::uint64_t fresh_seed();

struct BalancerOptions {
  // Seeds the generator of the strategies that draw at random (random, p2c). Tests pass a
  // constant for repeatable picks.
  std::uint64_t seed = fresh_seed();
  // session: a server takes at most load_factor x the average load (consistent hashing with
  // bounded loads).
  double load_factor = 1.25;
  // cache_aware's hot-spot guard: a server whose in-flight count exceeds the least loaded
  // candidate's by more than balance_abs and by a factor of more than balance_rel gets no credit
  // for its cache.
  int balance_abs = 8;
  double balance_rel = 1.5;
  // cache_aware: a new prefix goes to the best-scoring of the servers with at most this many
  // requests in flight above the least loaded one (0: among the least loaded).
  int new_prefix_slack = 0;
  // least_load: scraped signals older than this are not used (3 scrape intervals).
  std::int64_t metrics_max_age_ns = 600'000'000;
};

// The options a service's loadBalancer section sets.
BalancerOptions options_for(const config::LoadBalancer& lb);
// Whether two loadBalancer sections make the same balancer: the same strategy and the same
// settings that it, options_for() or the request key read (servers aside). While they do, a
// reload keeps the service's balancers and what its servers learned (runtime/worker_pools.h).
bool same_balancing(const config::LoadBalancer& a, const config::LoadBalancer& b);

// Whether `strategy` reads the request's prompt (PickContext::prompt).
bool wants_prompt(std::string_view strategy);

// Builds the strategy `name` for one worker over `servers`; nullptr for an unknown name.
std::unique_ptr<Balancer> make_balancer(std::string_view name, const ServerList& servers,
                                        const BalancerOptions& options = {});
// Names accepted by make_balancer, for validation messages and docs.
std::span<const std::string_view> strategy_names();

}  // namespace modelgate::balancing
