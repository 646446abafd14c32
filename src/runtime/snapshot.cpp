#include "runtime/snapshot.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace modelgate::runtime {

namespace {

std::string server_key(const std::string& service, const config::Server& s) {
  return fmt::format("{}|{}|{}|{}|{}|{}", service, s.url, s.weight, s.backup, s.maxConnections, s.drain);
}

}  // namespace

const EntryPointRuntime* Snapshot::entry_point(std::string_view name) const {
  for (const auto& ep : entry_points) {
    if (ep.spec.name == name) return &ep;
  }
  return nullptr;
}

std::shared_ptr<balancing::ServerState> ServerRegistry::get(const std::string& service,
                                                            const config::Server& spec) {
  std::lock_guard lock(mutex_);
  auto& slot = states_[server_key(service, spec)];
  if (auto existing = slot.lock()) return existing;
  auto fresh = std::make_shared<balancing::ServerState>(spec);
  slot = fresh;
  return fresh;
}

std::shared_ptr<ServiceCounters> ServerRegistry::counters(const std::string& service) {
  std::lock_guard lock(mutex_);
  auto& slot = counters_[service];
  if (auto existing = slot.lock()) return existing;
  auto fresh = std::make_shared<ServiceCounters>();
  slot = fresh;
  return fresh;
}

namespace {

config::LoadBalancer without_servers(config::LoadBalancer lb) {
  lb.servers.clear();
  return lb;
}

}  // namespace

std::uint64_t ServerRegistry::definition(const std::string& service, const config::LoadBalancer& lb,
                                         bool& changed) {
  std::lock_guard lock(mutex_);
  auto it = definitions_.find(service);
  changed = false;
  if (it != definitions_.end()) {
    if (balancing::same_balancing(it->second.lb, lb)) return it->second.number;
    changed = true;
  }
  return next_definition_++;
}

void ServerRegistry::commit(const std::string& service, const config::LoadBalancer& lb, std::uint64_t number) {
  std::lock_guard lock(mutex_);
  auto& slot = definitions_[service];
  if (slot.number == number) return;
  slot = Definition{without_servers(lb), number};
}

void ServerRegistry::collect() {
  std::lock_guard lock(mutex_);
  std::erase_if(states_, [](const auto& kv) { return kv.second.expired(); });
  std::erase_if(counters_, [](const auto& kv) { return kv.second.expired(); });
  keys_.collect();
}

namespace {

// The TLS client context for a service's https:// servers (none when it has none).
std::string client_tls(const config::Config& cfg, const config::LoadBalancer& lb,
                       std::shared_ptr<const net::ClientTls>& out) {
  if (std::none_of(lb.servers.begin(), lb.servers.end(), [](const auto& s) { return s.tls; })) return {};
  net::ClientTlsOptions options;
  if (!lb.serversTransport.empty()) {
    auto it = cfg.serversTransports.find(lb.serversTransport);
    if (it == cfg.serversTransports.end()) return fmt::format("unknown serversTransport \"{}\"", lb.serversTransport);
    const auto& t = it->second;
    options.rootCAs = t.rootCAs;
    for (const auto& c : t.certificates) options.certificates.push_back({c.certFile, c.keyFile});
    options.insecureSkipVerify = t.insecureSkipVerify;
    options.serverName = t.serverName;
  }
  std::string why;
  out = net::ClientTls::make(options, why);
  return why;
}

// A TCP service as the pools and the health checker know services: its strategy by the name
// make_balancer gives it (least_connections is least_request over open connections), its servers
// kept in the registry under "tcp:NAME" (apart from an HTTP service of the same name).
TcpServiceRuntime tcp_service(const std::string& name, const config::TcpLoadBalancer& tcp, ServerRegistry& registry) {
  const std::string key = "tcp:" + name;
  config::LoadBalancer lb;
  lb.servers = tcp.servers;
  lb.strategy = tcp.strategy == "least_connections" ? "least_request" : tcp.strategy;
  lb.healthCheck = tcp.healthCheck;
  bool changed = false;
  const auto definition = registry.definition(key, lb, changed);
  TcpServiceRuntime out{ServiceRuntime{name, lb, definition, {}, registry.counters(key), std::nullopt}, tcp};
  for (const auto& server : tcp.servers) out.balancing.servers.push_back(registry.get(key, server));
  if (lb.strategy == "ip_hash") out.balancing.hash_key = balancing::HashKey{};
  return out;
}

// The TCP routers of entry point `rt`; it becomes a TCP entry point when it has any.
void add_tcp_routes(const config::Config& cfg, const std::map<std::string, std::uint32_t>& tcp_index,
                    EntryPointRuntime& rt, std::vector<std::string>& errors) {
  for (const auto& [r_name, router] : cfg.tcpRouters) {
    const auto& eps = router.entryPoints;
    if (std::find(eps.begin(), eps.end(), rt.spec.name) == eps.end()) continue;
    rt.tcp = true;
    auto svc = tcp_index.find(router.service);
    if (svc == tcp_index.end()) {
      errors.push_back(fmt::format("TCP router \"{}\": unknown TCP service \"{}\"", r_name, router.service));
      continue;
    }
    std::shared_ptr<const routing::Rule> rule = router.compiled;
    if (!rule) {
      auto parsed = routing::parse_rule(router.rule, routing::RuleSyntax::tcp);
      if (auto* err = std::get_if<routing::RuleError>(&parsed)) {
        errors.push_back(fmt::format("TCP router \"{}\": rule: {}", r_name, err->message));
        continue;
      }
      rule = std::make_shared<const routing::Rule>(std::get<routing::Rule>(std::move(parsed)));
    }
    rt.needs_sni = rt.needs_sni || rule->needs_sni();
    rt.tcp_routes.push_back(TcpRoute{r_name, std::move(rule), router.effectivePriority(), svc->second});
  }
  std::stable_sort(rt.tcp_routes.begin(), rt.tcp_routes.end(),
                   [](const TcpRoute& a, const TcpRoute& b) { return a.priority > b.priority; });
}

}  // namespace

std::variant<std::shared_ptr<const Snapshot>, std::vector<std::string>> build_snapshot(
    config::Config cfg, ServerRegistry& registry) {
  auto snap = std::make_shared<Snapshot>();
  std::vector<std::string> errors;
  std::map<std::string, std::uint32_t> service_index;
  std::vector<std::uint32_t> redefined;  // services whose definition changed: their servers forget

  for (const auto& [name, svc] : cfg.services) {
    bool changed = false;
    const auto definition = registry.definition(name, svc.loadBalancer, changed);
    if (changed) redefined.push_back(static_cast<std::uint32_t>(snap->services.size()));
    ServiceRuntime rt{name, svc.loadBalancer, definition, {}, registry.counters(name), std::nullopt};
    for (const auto& server : svc.loadBalancer.servers) rt.servers.push_back(registry.get(name, server));
    const auto& strategy = svc.loadBalancer.strategy;
    if (strategy == "consistent_hash" || strategy == "ip_hash" || strategy == "session") {
      // session keys by X-Session-ID unless hashKey says otherwise.
      const std::string key = strategy == "session" && !svc.loadBalancer.hashKeySet
                                  ? std::string("header:X-Session-ID")
                                  : svc.loadBalancer.hashKey;
      rt.hash_key = strategy == "ip_hash" ? balancing::HashKey{} : balancing::HashKey::parse(key);
      if (!rt.hash_key) {
        errors.push_back(
            fmt::format("service \"{}\": hashKey \"{}\" is not client_ip, header:NAME, "
                        "cookie:NAME or body:FIELD",
                        name, svc.loadBalancer.hashKey));
      }
    }
    if (auto why = client_tls(cfg, svc.loadBalancer, rt.tls); !why.empty()) {
      errors.push_back(fmt::format("service \"{}\": {}", name, why));
    }
    if (balancing::wants_prompt(strategy)) {
      rt.wants_prompt = true;
      // Each server's prefix index, created once before any worker can see this snapshot; it is
      // kept across reloads and discovery changes with the ServerState (llm_state.h).
      const std::size_t share = svc.loadBalancer.cacheAware.maxIndexBytes / std::max<std::size_t>(1, rt.servers.size());
      for (const auto& server : rt.servers) {
        if (!server->llm.index.load(std::memory_order_acquire)) {
          server->llm.index.store(new balancing::PrefixIndex(share), std::memory_order_release);
        }
      }
    }
    // By name: building the balancer (a 1 000-server hash ring takes milliseconds) only to check
    // it exists would cost every discovery change as much again.
    const auto names = balancing::strategy_names();
    if (std::find(names.begin(), names.end(), strategy) == names.end()) {
      errors.push_back(fmt::format("service \"{}\": strategy \"{}\" is not available in this build", name,
                                   svc.loadBalancer.strategy));
    }
    if (svc.loadBalancer.discoverModels.enabled) {
      snap->discovery = true;
      for (const auto& server : rt.servers) {
        for (const auto& model : server->info().models) snap->model_servers[model].push_back(server.get());
      }
    }
    service_index[name] = static_cast<std::uint32_t>(snap->services.size());
    snap->services.push_back(std::move(rt));
  }

  std::map<std::string, std::uint32_t> tcp_index;
  for (const auto& [name, svc] : cfg.tcpServices) {
    tcp_index[name] = static_cast<std::uint32_t>(snap->tcp_services.size());
    snap->tcp_services.push_back(tcp_service(name, svc.loadBalancer, registry));
  }

  for (const auto& [ep_name, ep] : cfg.entryPoints) {
    EntryPointRuntime rt;
    rt.spec = ep;
    add_tcp_routes(cfg, tcp_index, rt, errors);
    rt.ping = cfg.ping.enabled && (cfg.ping.entryPoint.empty() || cfg.ping.entryPoint == ep_name);
    rt.ping_path = cfg.ping.path;
    for (const auto& [r_name, router] : cfg.routers) {
      const auto& eps = router.entryPoints;
      if (rt.tcp) break;  // an HTTP router without entryPoints skips TCP entry points
      if (!eps.empty() && std::find(eps.begin(), eps.end(), ep_name) == eps.end()) continue;
      auto svc = service_index.find(router.service);
      if (svc == service_index.end()) {
        errors.push_back(fmt::format("router \"{}\": unknown service \"{}\"", r_name, router.service));
        continue;
      }
      std::shared_ptr<const routing::Rule> rule = router.compiled;
      std::vector<std::string> models = router.models;
      if (!rule) {  // a Config built in code, not by the loader
        auto parsed = routing::parse_rule(router.rule);
        if (auto* err = std::get_if<routing::RuleError>(&parsed)) {
          errors.push_back(fmt::format("router \"{}\": rule: {}", r_name, err->message));
          continue;
        }
        rule = std::make_shared<const routing::Rule>(std::get<routing::Rule>(std::move(parsed)));
        models = rule->served_models();
      }
      for (auto& model : models) {
        if (std::find(rt.rule_models.begin(), rt.rule_models.end(), model) == rt.rule_models.end())
          rt.rule_models.push_back(std::move(model));
      }
      rt.routes.push_back(Route{r_name, std::move(rule),
                                router.effectivePriority(), svc->second,
                                router.upstreamHeader || ep.upstreamHeader,
                                compile_middlewares(r_name, router.middlewares, cfg.middlewares,
                                                    registry.middleware_states())});
    }
    // Highest priority first; equal priorities by name so the order never depends on map layout.
    std::stable_sort(rt.routes.begin(), rt.routes.end(),
                     [](const Route& a, const Route& b) { return a.priority > b.priority; });
    snap->entry_points.push_back(std::move(rt));
  }
  for (const auto& [model, _] : snap->model_servers) snap->models.push_back(model);
  std::sort(snap->models.begin(), snap->models.end());
  snap->config = std::move(cfg);
  if (!errors.empty()) return errors;
  snap->keys = tenancy::build_key_table(snap->config.auth, registry.keys());
  // Published: what the servers of a redefined service learned under the old definition goes.
  for (const auto i : redefined) {
    for (const auto& server : snap->services[i].servers) server->llm.forget();
  }
  for (const auto& svc : snap->services) registry.commit(svc.name, svc.lb, svc.definition);
  for (const auto& svc : snap->tcp_services) {
    registry.commit(svc.balancing.name, svc.balancing.lb, svc.balancing.definition);
  }
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace modelgate::runtime
