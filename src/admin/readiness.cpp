// The readiness verdict of GET /ready; the rules and their reasons are in readiness.h.
#include "admin/readiness.h"

#include <fmt/format.h>

#include "admin/api_json.h"
#include "admin/json_writer.h"

namespace modelgate::admin {

Readiness readiness(const StatusInfo& status, const std::vector<EntryPointInfo>& entry_points,
                    const std::vector<ServiceInfo>& services) {
  Readiness r;
  r.listening = static_cast<int>(entry_points.size());
  for (const auto& service : services) {
    for (const auto& server : service.servers) {
      ++r.servers;
      if (server_state(server) == "up" && server.weight > 0) ++r.usable_servers;
    }
  }
  if (status.draining) {
    r.reason = "draining: the gateway is shutting down or handing over to a new binary";
  } else if (r.listening == 0) {
    r.reason = "no entry point is listening";
  } else if (!services.empty() && r.usable_servers == 0) {
    r.reason = fmt::format("no usable server: none of the {} servers of {} services is up (see "
                           "GET /api/services for each one's last error)",
                           r.servers, services.size());
  } else {
    r.ready = true;
  }
  return r;
}

std::string readiness_json(const Readiness& r, const StatusInfo& status) {
  JsonWriter w;
  w.begin_object().field("ready", r.ready);
  if (!r.ready) w.field("reason", r.reason);
  w.field("draining", status.draining)
      .field("entry_points", r.listening)
      .field("usable_servers", r.usable_servers)
      .field("servers", r.servers)
      .field("generation", status.generation)
      .end_object();
  return w.take();
}

}  // namespace modelgate::admin
