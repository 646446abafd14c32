// One small interface for every balancing strategy.
//
// A strategy only chooses among candidates it is handed; which servers are candidates (healthy,
// not drained, not already tried, serving the model, backups only when every primary is down) is
// decided once, in Pool, for all strategies alike. Each worker thread owns its own Balancer
// instances (built from the same config), so a pick takes no lock; strategies that need a global
// view (least_request) read the shared atomic counters of ServerState.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "balancing/server_state.h"

namespace modelgate::balancing {

struct PickContext {
  // Indices into the pool's server list that may be chosen; never empty, ascending, distinct.
  // Pool offers only servers of weight >= 1.
  std::span<const std::uint32_t> candidates;
  // Hash of the request's key (client IP, header, cookie or body field) for hashing strategies.
  std::uint64_t key_hash = 0;
};

class Balancer {
 public:
  virtual ~Balancer() = default;
  // Returns one element of ctx.candidates.
  virtual std::uint32_t pick(const PickContext& ctx) = 0;
};

using ServerList = std::vector<std::shared_ptr<ServerState>>;

// A different seed on every call and every thread (random_device once per thread, then
// splitmix64), so each worker's random strategies draw their own sequence.
std::uint64_t fresh_seed();

struct BalancerOptions {
  // Seeds the generator of the strategies that draw at random (random, p2c). Tests pass a
  // constant for repeatable picks.
  std::uint64_t seed = fresh_seed();
};

// Builds the strategy `name` for one worker over `servers`; nullptr for an unknown name.
std::unique_ptr<Balancer> make_balancer(std::string_view name, const ServerList& servers,
                                        const BalancerOptions& options = {});
// Names accepted by make_balancer, for validation messages and docs.
std::span<const std::string_view> strategy_names();

}  // namespace modelgate::balancing
