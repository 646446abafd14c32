#include "health/check_tally.h"

#include <spdlog/spdlog.h>

#include "runtime/outlier_detection.h"

namespace modelgate::health {

CheckTally::Change CheckTally::record(balancing::ServerState& s, const config::HealthCheck& hc,
                                      bool ends_ejection, std::string_view service,
                                      const std::string& failure) {
  const bool healthy = s.healthy.load(std::memory_order_relaxed);
  if (failure.empty()) {
    failures_ = 0;
    ++successes_;
    Change change = Change::none;
    if (!healthy && successes_ >= hc.rise) {
      s.healthy.store(true, std::memory_order_relaxed);
      change = Change::up;
      spdlog::info("health: {} {} is healthy again after {} passed check{}", service, s.spec.url, successes_,
                   successes_ == 1 ? "" : "s");
    }
    if (ends_ejection && s.healthy.load(std::memory_order_relaxed) &&
        runtime::end_ejection(s, clock_.now_ns())) {
      spdlog::info("health: {} {}: a passed check ends its ejection by passive health", service, s.spec.url);
    }
    return change;
  }
  successes_ = 0;
  ++failures_;
  s.update_info([&](balancing::ServerState::Info& info) {
    info.last_error = "health check: " + failure;
    info.last_error_at = std::chrono::system_clock::now();
  });
  if (healthy && failures_ >= hc.fall) {
    s.healthy.store(false, std::memory_order_relaxed);
    spdlog::warn("health: {} {} is unhealthy after {} failed check{}: {}", service, s.spec.url, failures_,
                 failures_ == 1 ? "" : "s", failure);
    return Change::down;
  }
  spdlog::debug("health: {} {}: check failed ({} in a row): {}", service, s.spec.url, failures_, failure);
  return Change::none;
}

}  // namespace modelgate::health
