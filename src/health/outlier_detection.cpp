#include "health/outlier_detection.h"

#include <algorithm>

namespace modelgate::health {

void record_success(balancing::ServerState& server) {
  if (server.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    server.consecutive_failures.store(0, std::memory_order_relaxed);
  }
}

bool record_failure(balancing::ServerState& server, const config::PassiveHealth& policy,
                    const balancing::ServerList& pool) {
  server.failures.fetch_add(1, std::memory_order_relaxed);
  const int failures = server.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (policy.consecutiveFailures <= 0 || failures < policy.consecutiveFailures) return false;

  const std::int64_t now = balancing::steady_now_ns();
  if (server.ejected(now)) return false;
  std::size_t ejected = 0;
  for (const auto& s : pool) ejected += s->ejected(now) ? 1 : 0;
  const std::size_t cap = std::max<std::size_t>(1, pool.size() * policy.maxEjectionPercent / 100);
  if (ejected + 1 > cap) return false;

  const int times = std::min(server.ejections.fetch_add(1, std::memory_order_relaxed), 5);
  const std::int64_t base_ns = std::chrono::nanoseconds(policy.baseEjection).count();
  server.ejected_until_ns.store(now + (base_ns << times), std::memory_order_relaxed);
  server.consecutive_failures.store(0, std::memory_order_relaxed);
  return true;
}

}  // namespace modelgate::health
