// Passive health (outlier detection): the proxy's own traffic tells when a server is sick.
//
// After `consecutiveFailures` connect errors or 5xx answers in a row, a server is ejected for
// baseEjection × 2^(ejections so far), capped at 32 × baseEjection, so a server that keeps failing
// stays out longer each time, and one that recovers is back after a short pause. At most
// `maxEjectionPercent` of a service's servers are ejected at once (at least one may always be):
// ejecting the whole pool on a burst of errors would turn a partial outage into a total one.
// Called by worker threads: only relaxed atomics, no locks.
#pragma once

#include "balancing/balancer.h"
#include "config/config.h"

namespace modelgate::health {

void record_success(balancing::ServerState& server);

// Returns true when this failure ejected the server.
bool record_failure(balancing::ServerState& server, const config::PassiveHealth& policy,
                    const balancing::ServerList& pool);

}  // namespace modelgate::health
