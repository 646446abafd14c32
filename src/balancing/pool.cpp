#include "balancing/pool.h"

#include <algorithm>

namespace modelgate::balancing {

Pool::Pool(ServerList servers, std::unique_ptr<Balancer> balancer)
    : servers_(std::move(servers)), balancer_(std::move(balancer)) {
  candidates_.reserve(servers_.size());
}

std::size_t Pool::collect(const PickRequest& request, bool backup, Gate gate, std::int64_t now_ns) {
  candidates_.clear();
  std::size_t busy = 0;
  for (std::uint32_t i = 0; i < servers_.size(); ++i) {
    const ServerState& s = *servers_[i];
    if (s.spec.backup != backup || s.spec.drain || s.spec.weight <= 0) continue;
    if (s.draining.load(std::memory_order_relaxed)) continue;
    if (was_tried(request, i)) continue;
    if (request.restrict_to_allowed &&
        std::find(request.allowed.begin(), request.allowed.end(), &s) == request.allowed.end()) {
      continue;
    }
    if (gate == Gate::strict) {
      if (!s.healthy.load(std::memory_order_relaxed) || s.ejected(now_ns)) continue;
    }
    if (s.spec.maxConnections > 0 && s.inflight.load(std::memory_order_relaxed) >= s.spec.maxConnections) {
      ++busy;
      continue;
    }
    candidates_.push_back(i);
  }
  return busy;
}

PickResult Pool::pick(const PickRequest& request) {
  const std::int64_t now = steady_now_ns();
  std::size_t busy = collect(request, false, Gate::strict, now);
  if (candidates_.empty() && busy == 0) busy = collect(request, true, Gate::strict, now);
  bool panic = false;
  if (candidates_.empty() && busy == 0) {
    busy = collect(request, false, Gate::panic, now);
    if (candidates_.empty() && busy == 0) busy = collect(request, true, Gate::panic, now);
    panic = !candidates_.empty();
  }
  if (candidates_.empty()) return {nullptr, busy > 0, false, 0};
  const auto i = balancer_->pick({candidates_, request.key_hash, request.prompt, request.note});
  return {servers_[i].get(), false, panic, i};
}

}  // namespace modelgate::balancing
