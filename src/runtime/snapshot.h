// The immutable runtime form of a Config: rules compiled (by the loader, shared here), routers
// sorted, servers bound to their live state. Built once per (re)load and per model discovery
// change on the control thread, shared read-only by every worker; replacing it is one pointer
// swap, and requests in flight keep the one they started with. What lives longer than a snapshot
// (docs/architecture.md): each server's state (ServerRegistry: health, counters, learned state),
// and each worker's balancers (worker_pools.h), both kept while the service's definition is.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "balancing/balancer.h"
#include "balancing/hash_key.h"
#include "balancing/server_state.h"
#include "config/config.h"
#include "net/tls.h"
#include "routing/rule.h"
#include "tenancy/key_table.h"
#include "runtime/middleware.h"

namespace modelgate::runtime {

// Per-service counters that outlive reloads (the retry budget reads them on every retry).
struct ServiceCounters {
  std::atomic<int> active{0};    // requests being forwarded now
  std::atomic<int> retrying{0};  // of which are retries
  std::atomic<int> queued{0};    // waiting for a server under maxConnections
  std::atomic<std::uint64_t> retries{0};
};

struct ServiceRuntime {
  std::string name;
  config::LoadBalancer lb;
  // Equal in two snapshots while the service's balancing definition is (balancing::same_balancing:
  // strategy and its settings, servers aside): the workers then keep its balancers
  // (worker_pools.h) and its servers keep what they learned.
  std::uint64_t definition = 0;
  balancing::ServerList servers;
  std::shared_ptr<ServiceCounters> counters;
  std::optional<balancing::HashKey> hash_key;  // set for strategies that hash a request key
  bool wants_prompt = false;  // the strategy reads the prompt's block chain (cache_aware)
  // For its https:// servers: the TLS client context of loadBalancer.serversTransport (null when
  // every server is http://).
  std::shared_ptr<const net::ClientTls> tls;
};

// The certificates the entry points with http.tls serve, the default first (net::TlsStore::set).
inline std::vector<net::CertificateFiles> server_certificates(const config::Config& cfg) {
  std::vector<net::CertificateFiles> files;
  for (const auto& c : cfg.tls.ordered()) files.push_back({c.certFile, c.keyFile});
  return files;
}

struct Route {
  std::string name;
  std::shared_ptr<const routing::Rule> rule;  // the loader's parsed rule (config::Router::compiled)
  int priority = 0;
  std::uint32_t service = 0;  // index into Snapshot::services
  bool upstream_header = false;
  std::shared_ptr<const MiddlewareChain> middlewares;  // null: none (the usual case)
};

// A TCP router on one entry point (docs/tcp.md).
struct TcpRoute {
  std::string name;
  std::shared_ptr<const routing::Rule> rule;  // the TCP syntax: HostSNI, HostSNIRegexp, ClientIP
  int priority = 0;
  std::uint32_t service = 0;  // index into Snapshot::tcp_services
};

// A TCP service: its balancing as an HTTP service's (the pools, the health checker and the
// registry treat both alike; registry keys start with "tcp:"), and what only the relay reads.
struct TcpServiceRuntime {
  ServiceRuntime balancing;  // name, servers, lb (strategy named as make_balancer knows it, healthCheck)
  config::TcpLoadBalancer tcp;
};

struct EntryPointRuntime {
  config::EntryPoint spec;
  // Set when TCP routers use this entry point: it relays connections and serves no HTTP router.
  bool tcp = false;
  bool needs_sni = false;             // some TCP route reads the TLS ClientHello first
  std::vector<TcpRoute> tcp_routes;   // highest priority first
  std::vector<Route> routes;             // highest priority first
  std::vector<std::string> rule_models;  // models the routers' Model() rules serve (not `!Model`), for 404 listings
  bool ping = false;
  std::string ping_path;
};

struct Snapshot {
  config::Config config;
  std::vector<ServiceRuntime> services;
  std::vector<EntryPointRuntime> entry_points;
  std::vector<TcpServiceRuntime> tcp_services;
  // Model discovery: each model id listed by a server of a service with discoverModels, and those
  // servers; `models` is the sorted union, for the gateway's own /v1/models and 404 messages.
  std::unordered_map<std::string, std::vector<const balancing::ServerState*>> model_servers;
  std::vector<std::string> models;
  bool discovery = false;  // some service discovers its models
  std::shared_ptr<const tenancy::KeyTable> keys;  // the API keys; null without `auth`

  const EntryPointRuntime* entry_point(std::string_view name) const;
};

// Keeps each server's live state across reloads: the same (service, url, settings) gets the same
// ServerState back. Remembers each service's definition, to tell a reload that changed it.
class ServerRegistry {
 public:
  std::shared_ptr<balancing::ServerState> get(const std::string& service, const config::Server& spec);
  std::shared_ptr<ServiceCounters> counters(const std::string& service);
  // The number of `lb`'s balancing definition (balancing::same_balancing): the one last committed
  // for `service` when the same, a new one otherwise. `changed`: the service had another one.
  std::uint64_t definition(const std::string& service, const config::LoadBalancer& lb, bool& changed);
  // Remembers the definitions of a snapshot about to be published.
  void commit(const std::string& service, const config::LoadBalancer& lb, std::uint64_t number);
  // Forgets states no snapshot holds any more.
  void collect();
  // The API keys' limiter states, kept the same way (by key name).
  tenancy::KeyRegistry& keys() { return keys_; }
  // The counters of rateLimit and inFlightReq middlewares, kept the same way.
  MiddlewareStates& middleware_states() { return middleware_states_; }

 private:
  struct Definition {
    config::LoadBalancer lb;  // without servers (not compared; not kept)
    std::uint64_t number = 0;
  };
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<balancing::ServerState>> states_;
  std::map<std::string, std::weak_ptr<ServiceCounters>> counters_;
  std::map<std::string, Definition> definitions_;
  std::uint64_t next_definition_ = 1;
  tenancy::KeyRegistry keys_;
  MiddlewareStates middleware_states_;
};

// Errors are human-readable lines (e.g. an unimplemented strategy).
std::variant<std::shared_ptr<const Snapshot>, std::vector<std::string>> build_snapshot(
    config::Config cfg, ServerRegistry& registry);

}  // namespace modelgate::runtime
