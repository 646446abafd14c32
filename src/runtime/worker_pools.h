// A worker's pools (balancer and candidate sets, one per service), kept across snapshots.
//
// Built per worker thread and used by it alone, so nothing here takes a lock. When the worker
// sees a new snapshot (a reload, an admin change, a model discovery change), adopt() matches each
// service to the pool it had by name:
// - same definition (ServiceRuntime::definition), same servers: the pool is kept as it is; only
//   the candidate sets derived from the old snapshot's model lists are forgotten (pool.h);
// - same definition, servers added or removed: the pool is kept and told (Pool::set_servers ->
//   Balancer::on_servers_changed), so a round-robin turn, a hash ring, smooth-weighted scores
//   carry on for the servers that stay;
// - a new or redefined service gets a new pool.
// Health and ejection changes need no adopt(): pools see them through membership_epoch().
// Requests still running on an older snapshot keep its WorkerRoutes, which share these pools.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "balancing/pool.h"
#include "runtime/snapshot.h"

namespace modelgate::runtime {

class WorkerPools {
 public:
  using Pools = std::vector<std::shared_ptr<balancing::Pool>>;

  // The pools of `snapshot`'s services, in its order.
  Pools adopt(const Snapshot& snapshot);
  // The same over any list of services (the TCP services: a WorkerPools of their own).
  Pools adopt(const std::vector<const ServiceRuntime*>& services);
  // Whether the last adopt() changed some service's server list (or the set of services): only
  // then can a server have left every service (the worker closes its idle connections).
  bool servers_changed() const { return servers_changed_; }

 private:
  struct Kept {
    std::uint64_t definition = 0;
    std::shared_ptr<balancing::Pool> pool;
  };
  std::unordered_map<std::string, Kept> by_service_;
  bool servers_changed_ = true;
};

}  // namespace modelgate::runtime
