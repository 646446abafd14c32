// The JSON shapes of the admin API, one function per resource, so that the HTTP layer never
// formats JSON by hand and the shapes can be read (and documented in docs/admin-api.md) in one
// place. Every function appends one complete JSON value to the writer.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "admin/admin_backend.h"
#include "admin/json_writer.h"
#include "config/config.h"

namespace modelgate::admin {

// "up" | "down" (failing active health checks) | "ejected" (passive health) | "draining".
// The most alarming wins: a draining server that fails its checks is "down".
std::string_view server_state(const ServerInfo& s);

struct ModelServer {
  std::string service;
  std::string url;
  bool healthy = false;  // up: healthy, not ejected, not draining
};
struct ModelInfo {
  std::string id;
  std::vector<ModelServer> servers;
  int healthy = 0;
};
// Models as the servers report them (model discovery), sorted by id.
std::vector<ModelInfo> models_from(const std::vector<ServiceInfo>& services);

// Per-server extras the event stream adds to the services shape; empty for GET /api/services.
struct ServerRates {
  double rps = 0;  // requests per second over the last sample interval
  double eps = 0;  // failures per second
};

void write_entry_points(JsonWriter& w, const std::vector<EntryPointInfo>& entry_points);
void write_routers(JsonWriter& w, const std::vector<RouterInfo>& routers);
void write_server(JsonWriter& w, const ServerInfo& s, const ServerRates* rates = nullptr);
void write_service(JsonWriter& w, const ServiceInfo& s,
                   const std::vector<ServerRates>* rates = nullptr);  // rates: one per server
void write_services(JsonWriter& w, const std::vector<ServiceInfo>& services);
void write_tcp_services(JsonWriter& w, const std::vector<TcpServiceInfo>& services);
void write_models(JsonWriter& w, const std::vector<ModelInfo>& models);
void write_status(JsonWriter& w, const StatusInfo& status);
// Traefik's file shape (entryPoints, http.routers, http.services, ...); admin.token is never
// written, only whether one is set.
void write_config(JsonWriter& w, const config::Config& cfg);
// {"error":{"message":...,"type":...,"code":...}} as OpenAI-compatible servers answer.
std::string error_json(std::string_view message, std::string_view type, std::string_view code);

// "500ms", "10s", "2m": how the config file writes durations.
std::string duration_text(config::Duration d);
// RFC 3339 in UTC with milliseconds, "2025-01-31T12:00:00.000Z".
std::string utc_text(std::chrono::system_clock::time_point t);

}  // namespace modelgate::admin
