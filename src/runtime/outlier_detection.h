// Passive health (outlier detection): the proxy's own traffic tells when a server is sick.
//
// After `consecutiveFailures` connect errors or 5xx answers in a row, a server is ejected for
// baseEjection × 2^k, capped at 32 × baseEjection, so a server that keeps failing stays out longer
// each time, and one that recovers is back after a short pause. k counts the recent ejections and
// decays as in Envoy: each baseEjection of quiet since the last ejection ended takes one off, so a
// server that fails once a day is not left out for 16 minutes. At most `maxEjectionPercent` of a
// service's servers are ejected at once (at least one may always be): ejecting the whole pool on a
// burst of errors would turn a partial outage into a total one.
//
// An ejection also ends early when an active health check passes (`endOnActiveCheck`, Envoy's
// successful_active_health_check_uneject_host): the checker's fresh verdict beats an old guess.
// Called by worker threads and the health checker: only relaxed atomics, no locks. `now_ns` is
// the steady clock in ns (net::Clock::now_ns()), passed in, or read from the clock given, so that
// tests can drive time with a net::ManualClock.
#pragma once

#include <cstdint>

#include "balancing/balancer.h"
#include "config/config.h"
#include "net/clock.h"

namespace modelgate::runtime {

void record_success(balancing::ServerState& server);

// Returns true when this failure ejected the server.
bool record_failure(balancing::ServerState& server, const config::PassiveHealth& policy,
                    const balancing::ServerList& pool, std::int64_t now_ns);
inline bool record_failure(balancing::ServerState& server, const config::PassiveHealth& policy,
                           const balancing::ServerList& pool, net::Clock clock = {}) {
  return record_failure(server, policy, pool, clock.now_ns());
}

// Ends the server's ejection, if any (a passed active check). True when one was running.
bool end_ejection(balancing::ServerState& server, std::int64_t now_ns);

}  // namespace modelgate::runtime
