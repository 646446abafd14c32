// GET /ready: may this gateway be given traffic? A load balancer's or keepalived's check asks it
// (deploy/keepalived/), so the answer is about this process, not about the world:
//
// - draining (SIGTERM, or the old process of a binary upgrade): 503 at once, before the
//   listeners close, so that the address moves while requests in flight still finish;
// - no entry point listening: 503 (nothing to send traffic to);
// - services configured but none with a usable server (up, not ejected, not draining, weight >
//   0): 503. One usable server in any service is enough: two gateways of an HA pair see the
//   same model servers, so one dead service is dead on both nodes, and moving the address for it
//   would only make it flap. A gateway cut off from all of its servers (its own link, its own
//   firewall) is the case a move does fix.
//
// Traefik's /ping answers 200 while running and `terminatingStatusCode` (503) during its shutdown
// grace; Envoy's /ready answers 200 in state LIVE (initialised, not draining). Both ignore
// upstream health; the third rule above is what this one adds. A configuration is always loaded
// here: the gateway refuses to start without one, and a rejected reload keeps the old one.
#pragma once

#include <string>
#include <vector>

#include "admin/admin_backend.h"

namespace modelgate::admin {

struct Readiness {
  bool ready = false;
  std::string reason;  // why not, for a person reading the check's log; "" when ready
  int listening = 0;   // entry points bound
  int usable_servers = 0;
  int servers = 0;
};

Readiness readiness(const StatusInfo& status, const std::vector<EntryPointInfo>& entry_points,
                    const std::vector<ServiceInfo>& services);

// {"ready":true,...} for 200, the same with "reason" for 503.
std::string readiness_json(const Readiness& r, const StatusInfo& status);

}  // namespace modelgate::admin
