// A worker's view of one service's servers: who may be picked, then which one.
//
// The rules every strategy shares live here, once. A server is a candidate when it is healthy
// (active checks), not ejected (passive health), not draining, has a non-zero weight, has a free
// slot under its maxConnections, serves the requested model (discovery) and was not already
// tried for this request. Backup servers are candidates only while no primary is. When health
// leaves no candidate at all, the pool panics (as Envoy does): it tries the servers anyway, since
// failing every request is worse than trying a server that may have recovered.
//
// Candidate sets are kept, not scanned for on every pick, as Envoy's host sets keep their healthy
// hosts apart. For each set of allowed servers (a model's servers under discovery, or the whole
// list) the pool holds four ascending lists: the primaries that are up, the backups that are up,
// and for panic every primary and every backup that is not drained or of weight 0. They are
// recomputed, on the next pick that needs them, only when membership changes: a health verdict, an ejection or a drain (each bumps
// membership_epoch(), server_state.h), the end of an ejection (the earliest one is remembered),
// a new server list (set_servers) or new model lists (forget_candidates). A pick then costs one
// atomic load, plus, when the request has tried servers or some server has maxConnections, one
// pass over the chosen tier's list, testing a bit of the request's TriedSet per server:
// O(candidates), never O(servers) nor a search per server.
//
// The pool and its balancer live as long as the service's definition does (runtime/worker_pools.h):
// a discovery or health change, or a reload that leaves the service alone, keeps both.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "balancing/balancer.h"
#include "balancing/tried_set.h"

namespace modelgate::balancing {

struct PickRequest {
  const TriedSet* tried = nullptr;  // indices into servers() already tried; may be nullptr
  std::uint64_t key_hash = 0;
  // When set, only these servers may be chosen (those whose model list has the model). The list
  // is known by its address: it must not change while the pool may see it (the snapshot's lists
  // never do; the worker calls forget_candidates() when it adopts a new snapshot).
  std::span<const ServerState* const> allowed;
  bool restrict_to_allowed = false;
  const PromptChain* prompt = nullptr;  // for prompt-aware strategies
  PickNote* note = nullptr;
};

struct PickResult {
  ServerState* server = nullptr;
  // No server was chosen only because every candidate is at its maxConnections.
  bool all_busy = false;
  bool panic = false;       // chosen although health says no server is up
  std::uint32_t index = 0;  // server's position in servers(), for the request's TriedSet
};

class Pool {
 public:
  Pool(ServerList servers, std::unique_ptr<Balancer> balancer);

  PickResult pick(const PickRequest& request) { return pick_at(request, steady_now_ns()); }
  // At a given time (steady clock, ns), by which ejections are judged.
  PickResult pick_at(const PickRequest& request, std::int64_t now_ns);
  // Picks a server not in `tried`; nullptr when none is left.
  ServerState* pick(const TriedSet& tried, std::uint64_t key_hash = 0) {
    return pick(PickRequest{&tried, key_hash, {}, false}).server;
  }

  // The service's servers changed, its definition did not: the balancer is told which server is
  // which (Balancer::on_servers_changed) and keeps its state for those that stay.
  void set_servers(ServerList servers);
  // The allowed lists of earlier picks are no longer used (a new snapshot): forget what was
  // derived from them.
  void forget_candidates() { by_allowed_.clear(); }

  const ServerList& servers() const { return servers_; }

 private:
  // The tiers a pick walks in order: strict primaries, strict backups, then panic.
  enum Tier { up_primary, up_backup, any_primary, any_backup, kTiers };
  struct CandidateSet {
    std::vector<std::uint32_t> tiers[kTiers];
    std::uint64_t epoch = 0;                  // membership_epoch() it was computed at; 0: never
    std::int64_t valid_until_ns = INT64_MAX;  // the first end of an ejection that left a server out
    bool limited = false;                     // a member has maxConnections
  };

  CandidateSet& candidates_for(const PickRequest& request, std::int64_t now_ns);
  void compute(CandidateSet& set, const PickRequest& request, std::int64_t now_ns);
  // Of one tier, those this request may take: not tried, with a free slot under maxConnections
  // (counted in `busy` when that is all they lack). The tier itself when nothing can be left out.
  std::span<const std::uint32_t> usable(std::span<const std::uint32_t> tier, const PickRequest& request,
                                        bool limited, std::size_t& busy);
  static bool was_tried(const PickRequest& request, std::uint32_t index) {
    return request.tried && request.tried->contains(index);
  }

  ServerList servers_;
  std::unique_ptr<Balancer> balancer_;
  std::unordered_map<const ServerState*, std::uint32_t> index_of_;
  CandidateSet all_;                                            // requests not restricted to a model
  std::unordered_map<const void*, CandidateSet> by_allowed_;  // by the allowed list's address
  std::vector<std::uint32_t> scratch_;                          // usable()'s output, reused
};

}  // namespace modelgate::balancing
