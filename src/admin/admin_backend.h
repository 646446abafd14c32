// What the admin API needs from the gateway, as plain values: the admin server turns them into
// JSON, the gateway fills them from its current snapshot and the live ServerStates.
//
// Every method is called on the admin server's io_context (one strand: never two calls at once),
// while the gateway's workers keep running. Reads copy what they report; they may take the
// gateway's control-plane locks but must not wait on the data plane. Mutations may block briefly
// (building a snapshot), never on a request in flight.
//
// GET /api/models needs no method of its own: it is derived from services() (each server's
// discovered models).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace modelgate::admin {

struct EntryPointInfo {
  std::string name;
  std::string address;  // as bound, "host:port" ("[::1]:8080" for IPv6)
};

struct RouterInfo {
  std::string name;
  std::string rule;
  std::string service;
  int priority = 0;                       // the effective priority
  std::vector<std::string> entry_points;  // empty: every entry point
};

struct ServerInfo {
  std::string url;
  int weight = 1;
  bool backup = false;
  bool healthy = true;    // active health checks' verdict
  bool ejected = false;   // passive health: ejected right now
  bool draining = false;  // no new requests (admin drain or config `drain: true`)
  int inflight = 0;
  std::uint64_t requests = 0;  // cumulative since the server state was created
  std::uint64_t failures = 0;
  std::vector<std::string> models;  // from model discovery; empty when unknown
  std::string last_error;           // "" when none
  // Time to first token quantiles, when the gateway measures them (unset: not shown). A
  // histogram's estimate (as Prometheus' histogram_quantile) is fine.
  std::optional<double> ttft_p50_ms;
  std::optional<double> ttft_p99_ms;
  // LLM scheduling (cache_aware, serverMetrics): the prefix index's predicted and realised cached
  // tokens, and the load the server reports; unset when the service uses neither.
  struct Scheduling {
    std::uint64_t cache_predicted = 0;
    std::uint64_t cache_realised = 0;
    std::optional<int> waiting, running;
    std::optional<double> kv_usage;      // 0..1
    std::optional<double> prefill_rate;  // tokens/s
  };
  std::optional<Scheduling> scheduling;
};

struct ServiceInfo {
  std::string name;
  std::string strategy;
  std::vector<ServerInfo> servers;
  std::optional<double> ttft_p50_ms;  // over every server of the service, when measured
  std::optional<double> ttft_p99_ms;
};

// A server of a TCP service (docs/tcp.md).
struct TcpServerInfo {
  std::string address;
  bool healthy = true;
  bool draining = false;
  int open = 0;                      // connections relayed now
  std::uint64_t connections = 0;     // since the server state was created
  std::uint64_t bytes_in = 0;        // from clients to the server
  std::uint64_t bytes_out = 0;       // from the server to clients
  std::uint64_t connect_failures = 0;
  std::string last_error;            // the last failed health check, "" when none
};

struct TcpServiceInfo {
  std::string name;
  std::string strategy;
  int proxy_protocol = 0;  // 0: none
  std::vector<TcpServerInfo> servers;
};

struct ReloadInfo {
  std::chrono::system_clock::time_point time;
  bool ok = true;
  std::vector<std::string> errors;  // why the last reload was refused; empty when ok
};

// The limits store shared by gateways (auth.store), as GET /api/status shows it.
struct LimitsStoreInfo {
  std::string url;  // without its password
  std::string failure;  // failOpen | failClosed
  bool connected = false;
  std::string last_error;
  std::int64_t since_unix_ms = 0;  // when `connected` last changed
  std::uint64_t round_trips = 0, failures = 0;
};

// A source of dynamic configuration other than the file (providers.etcd), as it stands now.
struct ProviderInfo {
  std::string name;                    // "etcd"
  std::vector<std::string> endpoints;  // as configured
  std::string root_key;
  bool connected = false;              // watching now
  std::int64_t revision = 0;           // of the last state read (0: none yet)
  std::string last_error;              // why it is not connected, or why its last state was refused
  std::chrono::system_clock::time_point since;  // of the current `connected` state
  std::uint64_t updates_applied = 0, updates_rejected = 0;
};

struct StatusInfo {
  std::string version;             // MODELGATE_VERSION
  double uptime_seconds = 0;
  unsigned workers = 0;
  std::uint64_t generation = 1;    // bumped by every applied config (reload or admin change)
  std::optional<ReloadInfo> last_reload;  // unset: never reloaded since start
  bool draining = false;  // shutting down (SIGTERM, the old process of a binary upgrade): GET /ready is 503
  std::optional<LimitsStoreInfo> limits_store;  // unset: no auth.store
  std::vector<ProviderInfo> providers;  // providers.etcd when set
};

// The outcome of a mutation. `status` is the HTTP status to answer with (200, 201, 400, 404,
// 409, ...); `message` is shown to the user and, on failure, says what to do.
struct MutationResult {
  bool ok = false;
  int status = 500;
  std::string message;
};

// POST /api/keys (docs/auth.md): the key to add, without its secret (the gateway makes one).
struct KeyRequest {
  std::string name;
  std::vector<std::string> models;  // globs, checked already
  config::Priority priority = config::Priority::normal;
  config::KeyLimits limits;
};

// The outcome of adding a key: the secret is in the answer once and nowhere else.
struct AddedKey {
  MutationResult result;
  std::string secret;
  std::string sha256;  // hex, for a keys file
};

class AdminBackend {
 public:
  virtual ~AdminBackend() = default;

  virtual std::vector<EntryPointInfo> entry_points() = 0;
  virtual std::vector<RouterInfo> routers() = 0;  // highest priority first
  virtual std::vector<ServiceInfo> services() = 0;
  // tcp.routers (highest priority first) and tcp.services; none unless the gateway relays TCP.
  virtual std::vector<RouterInfo> tcp_routers() { return {}; }
  virtual std::vector<TcpServiceInfo> tcp_services() { return {}; }
  // The configuration in effect. The admin server serialises it (Traefik's shape) and never
  // shows admin.token.
  virtual config::Config config() = 0;
  virtual StatusInfo status() = 0;
  // Prometheus text exposition format 0.0.4, served as is on GET /metrics.
  virtual std::string metrics() = 0;

  // `service` and `url` arrive percent-decoded. Suggested statuses: 201 added, 200 done,
  // 400 invalid url/weight, 404 no such service or server, 409 already present.
  virtual MutationResult add_server(std::string_view service, std::string_view url, int weight) = 0;
  virtual MutationResult remove_server(std::string_view service, std::string_view url) = 0;
  virtual MutationResult drain_server(std::string_view service, std::string_view url) = 0;

  // API keys: 201 added, 404 no such key, 409 the name is taken or `auth` is off.
  virtual AddedKey add_key(const KeyRequest&) { return {{false, 501, "API keys cannot be changed here"}, {}, {}}; }
  virtual MutationResult revoke_key(std::string_view) { return {false, 501, "API keys cannot be changed here"}; }
};

}  // namespace modelgate::admin
