#include "runtime/worker_pools.h"

namespace modelgate::runtime {

WorkerPools::Pools WorkerPools::adopt(const Snapshot& snapshot) {
  std::vector<const ServiceRuntime*> services;
  services.reserve(snapshot.services.size());
  for (const auto& svc : snapshot.services) services.push_back(&svc);
  return adopt(services);
}

WorkerPools::Pools WorkerPools::adopt(const std::vector<const ServiceRuntime*>& services) {
  Pools pools;
  pools.reserve(services.size());
  std::unordered_map<std::string, Kept> next;
  next.reserve(services.size());
  servers_changed_ = by_service_.size() != services.size();
  for (const ServiceRuntime* service : services) {
    const ServiceRuntime& svc = *service;
    std::shared_ptr<balancing::Pool> pool;
    if (auto it = by_service_.find(svc.name); it != by_service_.end() && it->second.definition == svc.definition) {
      pool = std::move(it->second.pool);
      if (pool->servers() != svc.servers) {
        servers_changed_ = true;
        pool->set_servers(svc.servers);
      } else {
        pool->forget_candidates();
      }
    } else {
      servers_changed_ = servers_changed_ || it == by_service_.end() || it->second.pool->servers() != svc.servers;
      pool = std::make_shared<balancing::Pool>(
          svc.servers, balancing::make_balancer(svc.lb.strategy, svc.servers, balancing::options_for(svc.lb)));
    }
    pools.push_back(pool);
    next.emplace(svc.name, Kept{svc.definition, std::move(pool)});
  }
  by_service_ = std::move(next);
  return pools;
}

}  // namespace modelgate::runtime
