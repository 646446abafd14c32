// The immutable runtime form of a Config: rules compiled, routers sorted, servers bound to their
// live state. Built once per (re)load on the control thread, shared read-only by every worker;
// replacing it is one pointer swap, and requests in flight keep the one they started with.
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
#include "routing/rule.h"

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
  balancing::ServerList servers;
  std::shared_ptr<ServiceCounters> counters;
  std::optional<balancing::HashKey> hash_key;  // set for strategies that hash a request key
  bool wants_prompt = false;  // the strategy reads the prompt's block chain (cache_aware)
};

struct Route {
  std::string name;
  routing::Rule rule;
  int priority = 0;
  std::uint32_t service = 0;  // index into Snapshot::services
  bool upstream_header = false;
};

struct EntryPointRuntime {
  config::EntryPoint spec;
  std::vector<Route> routes;             // highest priority first
  std::vector<std::string> rule_models;  // models the routers' Model() rules serve (not `!Model`), for 404 listings
  bool ping = false;
  std::string ping_path;
};

struct Snapshot {
  config::Config config;
  std::vector<ServiceRuntime> services;
  std::vector<EntryPointRuntime> entry_points;
  // Model discovery: each model id listed by a server of a service with discoverModels, and those
  // servers; `models` is the sorted union, for the gateway's own /v1/models and 404 messages.
  std::unordered_map<std::string, std::vector<const balancing::ServerState*>> model_servers;
  std::vector<std::string> models;
  bool discovery = false;  // some service discovers its models

  const EntryPointRuntime* entry_point(std::string_view name) const;
};

// Keeps each server's live state across reloads: the same (service, url, settings) gets the same
// ServerState back.
class ServerRegistry {
 public:
  std::shared_ptr<balancing::ServerState> get(const std::string& service, const config::Server& spec);
  std::shared_ptr<ServiceCounters> counters(const std::string& service);
  // Forgets states no snapshot holds any more.
  void collect();

 private:
  std::mutex mutex_;
  std::map<std::string, std::weak_ptr<balancing::ServerState>> states_;
  std::map<std::string, std::weak_ptr<ServiceCounters>> counters_;
};

// Errors are human-readable lines (e.g. an unimplemented strategy).
std::variant<std::shared_ptr<const Snapshot>, std::vector<std::string>> build_snapshot(
    config::Config cfg, ServerRegistry& registry);

}  // namespace modelgate::runtime
