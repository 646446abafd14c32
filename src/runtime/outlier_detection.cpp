#include "runtime/outlier_detection.h"

#include <algorithm>

namespace modelgate::runtime {

namespace {

constexpr int kMaxDoublings = 5;  // 32 × baseEjection at most

}  // namespace

void record_success(balancing::ServerState& server) {
  if (server.consecutive_failures.load(std::memory_order_relaxed) != 0) {
    server.consecutive_failures.store(0, std::memory_order_relaxed);
  }
}

bool record_failure(balancing::ServerState& server, const config::PassiveHealth& policy,
                    const balancing::ServerList& pool, std::int64_t now) {
  server.failures.fetch_add(1, std::memory_order_relaxed);
  const int failures = server.consecutive_failures.fetch_add(1, std::memory_order_relaxed) + 1;
  if (policy.consecutiveFailures <= 0 || failures < policy.consecutiveFailures) return false;

  if (server.ejected(now)) return false;
  std::size_t ejected = 0;
  for (const auto& s : pool) ejected += s->ejected(now) ? 1 : 0;
  const std::size_t cap = std::max<std::size_t>(1, pool.size() * policy.maxEjectionPercent / 100);
  if (ejected + 1 > cap) return false;

  // The multiplier decays by one per baseEjection of quiet since the last ejection ended.
  const std::int64_t base_ns =
      std::max<std::int64_t>(1, std::chrono::nanoseconds(policy.baseEjection).count());
  const std::int64_t last_end = server.ejected_until_ns.load(std::memory_order_relaxed);
  int times = server.ejections.load(std::memory_order_relaxed);
  if (last_end == 0) {
    times = 0;
  } else if (now > last_end) {
    const std::int64_t quiet_steps = (now - last_end) / base_ns;
    times = static_cast<int>(std::max<std::int64_t>(0, times - quiet_steps));
  }
  times = std::min(times, kMaxDoublings);
  server.ejections.store(times + 1, std::memory_order_relaxed);
  server.ejected_until_ns.store(now + (base_ns << times), std::memory_order_relaxed);
  server.consecutive_failures.store(0, std::memory_order_relaxed);
  return true;
}

bool end_ejection(balancing::ServerState& server, std::int64_t now) {
  if (!server.ejected(now)) return false;
  // `now`, not 0: the quiet period that decays the multiplier starts here.
  server.ejected_until_ns.store(now, std::memory_order_relaxed);
  server.consecutive_failures.store(0, std::memory_order_relaxed);
  return true;
}

}  // namespace modelgate::runtime
