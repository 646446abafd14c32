#include "balancing/pool.h"

#include <algorithm>

namespace modelgate::balancing {

Pool::Pool(ServerList servers, std::unique_ptr<Balancer> balancer)
    : servers_(std::move(servers)), balancer_(std::move(balancer)) {
  candidates_.reserve(servers_.size());
}

ServerState* Pool::pick(std::span<ServerState* const> tried, std::uint64_t key_hash) {
  auto collect = [&](bool backup) {
    candidates_.clear();
    for (std::uint32_t i = 0; i < servers_.size(); ++i) {
      const ServerState& s = *servers_[i];
      if (s.spec.backup != backup || s.spec.drain || s.spec.weight <= 0) continue;
      if (!s.healthy.load(std::memory_order_relaxed)) continue;
      if (std::find(tried.begin(), tried.end(), &s) != tried.end()) continue;
      candidates_.push_back(i);
    }
  };
  collect(false);
  if (candidates_.empty()) collect(true);
  if (candidates_.empty()) return nullptr;
  return servers_[balancer_->pick({candidates_, key_hash})].get();
}

}  // namespace modelgate::balancing
