#include "admin/api_json.h"

#include <algorithm>
#include <ctime>
#include <map>

namespace modelgate::admin {

std::string_view server_state(const ServerInfo& s) {
  if (!s.healthy) return "down";
  if (s.ejected) return "ejected";
  if (s.draining) return "draining";
  return "up";
}

std::vector<ModelInfo> models_from(const std::vector<ServiceInfo>& services) {
  std::map<std::string, ModelInfo> by_id;
  for (const auto& service : services) {
    for (const auto& server : service.servers) {
      const bool up = server_state(server) == "up";
      for (const auto& id : server.models) {
        auto& model = by_id[id];
        model.id = id;
        model.servers.push_back({service.name, server.url, up});
        if (up) ++model.healthy;
      }
    }
  }
  std::vector<ModelInfo> out;
  out.reserve(by_id.size());
  for (auto& [id, model] : by_id) out.push_back(std::move(model));
  return out;
}

void write_entry_points(JsonWriter& w, const std::vector<EntryPointInfo>& entry_points) {
  w.begin_array();
  for (const auto& e : entry_points) {
    w.begin_object().field("name", e.name).field("address", e.address).end_object();
  }
  w.end_array();
}

void write_routers(JsonWriter& w, const std::vector<RouterInfo>& routers) {
  w.begin_array();
  for (const auto& r : routers) {
    w.begin_object()
        .field("name", r.name)
        .field("rule", r.rule)
        .field("service", r.service)
        .field("priority", r.priority)
        .field("entry_points", r.entry_points)
        .end_object();
  }
  w.end_array();
}

namespace {

// A server's last error: its text, or null when there is none.
void write_last_error(JsonWriter& w, const std::string& error) {
  w.key("last_error");
  if (error.empty()) {
    w.null();
  } else {
    w.value(error);
  }
}

}  // namespace

void write_server(JsonWriter& w, const ServerInfo& s, const ServerRates* rates) {
  w.begin_object()
      .field("url", s.url)
      .field("state", server_state(s))
      .field("weight", s.weight)
      .field("backup", s.backup)
      .field("healthy", s.healthy)
      .field("ejected", s.ejected)
      .field("draining", s.draining)
      .field("inflight", s.inflight)
      .field("requests", s.requests)
      .field("failures", s.failures)
      .field("models", s.models);
  write_last_error(w, s.last_error);
  if (s.ttft_p50_ms) w.field("ttft_p50_ms", *s.ttft_p50_ms);
  if (s.ttft_p99_ms) w.field("ttft_p99_ms", *s.ttft_p99_ms);
  if (rates) w.field("rps", rates->rps).field("eps", rates->eps);
  if (const auto& sc = s.scheduling) {
    w.key("scheduling").begin_object();
    w.field("cache_predicted_tokens", sc->cache_predicted).field("cache_realised_tokens", sc->cache_realised);
    if (sc->waiting) w.field("waiting", *sc->waiting);
    if (sc->running) w.field("running", *sc->running);
    if (sc->kv_usage) w.field("kv_usage", *sc->kv_usage);
    if (sc->prefill_rate) w.field("prefill_rate", *sc->prefill_rate);
    w.end_object();
  }
  w.end_object();
}

void write_service(JsonWriter& w, const ServiceInfo& s, const std::vector<ServerRates>* rates) {
  int up = 0;
  for (const auto& server : s.servers) up += server_state(server) == "up";
  w.begin_object()
      .field("name", s.name)
      .field("strategy", s.strategy)
      .field("servers_up", up)
      .field("servers_total", static_cast<int>(s.servers.size()));
  if (s.ttft_p50_ms) w.field("ttft_p50_ms", *s.ttft_p50_ms);
  if (s.ttft_p99_ms) w.field("ttft_p99_ms", *s.ttft_p99_ms);
  w.key("servers").begin_array();
  for (std::size_t i = 0; i < s.servers.size(); ++i) {
    write_server(w, s.servers[i], rates && i < rates->size() ? &(*rates)[i] : nullptr);
  }
  w.end_array().end_object();
}

void write_services(JsonWriter& w, const std::vector<ServiceInfo>& services) {
  w.begin_array();
  for (const auto& s : services) write_service(w, s);
  w.end_array();
}

namespace {

// The tcp section of GET /api/config, as the file writes it (docs/tcp.md).
void write_tcp_config(JsonWriter& w, const config::Config& cfg) {
  w.key("tcp").begin_object().key("routers").begin_object();
  for (const auto& [name, r] : cfg.tcpRouters) {
    w.key(name).begin_object().field("rule", r.rule).field("service", r.service).field("entryPoints", r.entryPoints);
    if (r.priority) w.field("priority", *r.priority);
    if (r.tlsPassthrough) w.key("tls").begin_object().field("passthrough", true).end_object();
    w.end_object();
  }
  w.end_object().key("services").begin_object();
  for (const auto& [name, s] : cfg.tcpServices) {
    const auto& lb = s.loadBalancer;
    w.key(name).begin_object().key("loadBalancer").begin_object().key("servers").begin_array();
    for (const auto& server : lb.servers) w.begin_object().field("address", server.url).end_object();
    w.end_array().field("strategy", lb.strategy);
    if (lb.healthCheck.enabled) {
      w.key("healthCheck").begin_object();
      if (!lb.healthCheck.path.empty()) w.field("path", lb.healthCheck.path);
      w.field("interval", duration_text(lb.healthCheck.interval))
          .field("timeout", duration_text(lb.healthCheck.timeout))
          .end_object();
    }
    if (lb.proxyProtocol) w.key("proxyProtocol").begin_object().field("version", lb.proxyProtocol).end_object();
    w.field("terminationDelay", static_cast<int>(lb.terminationDelay.count()))
        .key("timeouts")
        .begin_object()
        .field("connect", duration_text(lb.connectTimeout))
        .end_object()
        .end_object()
        .end_object();
  }
  w.end_object().end_object();
}

}  // namespace

void write_tcp_services(JsonWriter& w, const std::vector<TcpServiceInfo>& services) {
  w.begin_array();
  for (const auto& svc : services) {
    int up = 0;
    for (const auto& s : svc.servers) up += s.healthy && !s.draining;
    w.begin_object()
        .field("name", svc.name)
        .field("strategy", svc.strategy)
        .field("proxy_protocol", svc.proxy_protocol)
        .field("servers_up", up)
        .field("servers_total", static_cast<int>(svc.servers.size()))
        .key("servers")
        .begin_array();
    for (const auto& s : svc.servers) {
      w.begin_object()
          .field("address", s.address)
          .field("state", !s.healthy ? "down" : s.draining ? "draining" : "up")
          .field("open", s.open)
          .field("connections", s.connections)
          .field("bytes_in", s.bytes_in)
          .field("bytes_out", s.bytes_out)
          .field("connect_failures", s.connect_failures);
      write_last_error(w, s.last_error);
      w.end_object();
    }
    w.end_array().end_object();
  }
  w.end_array();
}

void write_models(JsonWriter& w, const std::vector<ModelInfo>& models) {
  w.begin_array();
  for (const auto& m : models) {
    w.begin_object().field("id", m.id).field("healthy", m.healthy).key("servers").begin_array();
    for (const auto& s : m.servers) {
      w.begin_object()
          .field("service", s.service)
          .field("url", s.url)
          .field("healthy", s.healthy)
          .end_object();
    }
    w.end_array().end_object();
  }
  w.end_array();
}

void write_status(JsonWriter& w, const StatusInfo& status) {
  w.begin_object()
      .field("version", status.version)
      .field("uptime_seconds", status.uptime_seconds)
      .field("workers", status.workers)
      .field("generation", status.generation)
      .key("last_reload");
  if (!status.last_reload) {
    w.null();
  } else {
    const auto& r = *status.last_reload;
    w.begin_object()
        .field("time", utc_text(r.time))
        .field("ok", r.ok)
        .field("errors", r.errors)
        .end_object();
  }
  w.key("limits_store");
  if (!status.limits_store) {
    w.null();
  } else {
    const auto& st = *status.limits_store;
    w.begin_object()
        .field("store", st.url)
        .field("failure", st.failure)
        .field("connected", st.connected)
        .field("last_error", st.last_error)
        .field("since", utc_text(std::chrono::system_clock::time_point(std::chrono::milliseconds(st.since_unix_ms))))
        .field("round_trips", st.round_trips)
        .field("failures", st.failures)
        .end_object();
  }
  w.key("providers").begin_array();
  for (const auto& p : status.providers) {
    w.begin_object()
        .field("provider", p.name)
        .field("endpoints", p.endpoints)
        .field("root_key", p.root_key)
        .field("connected", p.connected)
        .field("revision", p.revision)
        .field("last_error", p.last_error)
        .field("since", utc_text(p.since))
        .field("updates_applied", p.updates_applied)
        .field("updates_rejected", p.updates_rejected)
        .end_object();
  }
  w.end_array();
  w.end_object();
}

namespace {

std::string address_text(const std::string& host, std::uint16_t port) {
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

void write_health_check(JsonWriter& w, const config::HealthCheck& h) {
  w.begin_object()
      .field("path", h.path)
      .field("interval", duration_text(h.interval))
      .field("timeout", duration_text(h.timeout))
      .field("expectStatus", h.expectStatus)
      .field("rise", h.rise)
      .field("fall", h.fall)
      .end_object();
}

void write_load_balancer(JsonWriter& w, const config::LoadBalancer& lb) {
  w.begin_object().key("servers").begin_array();
  for (const auto& s : lb.servers) {
    w.begin_object().field("url", s.url).field("weight", s.weight);
    if (s.backup) w.field("backup", true);
    if (s.maxConnections) w.field("maxConnections", s.maxConnections);
    if (s.drain) w.field("drain", true);
    w.end_object();
  }
  w.end_array()
      .field("passHostHeader", lb.passHostHeader)
      .field("strategy", lb.strategy)
      .field("hashKey", lb.hashKey);
  if (lb.healthCheck.enabled) {
    w.key("healthCheck");
    write_health_check(w, lb.healthCheck);
  }
  w.key("passiveHealth")
      .begin_object()
      .field("consecutiveFailures", lb.passiveHealth.consecutiveFailures)
      .field("baseEjection", duration_text(lb.passiveHealth.baseEjection))
      .field("maxEjectionPercent", lb.passiveHealth.maxEjectionPercent)
      .field("endOnActiveCheck", lb.passiveHealth.endOnActiveCheck)
      .end_object();
  w.key("retry")
      .begin_object()
      .field("attempts", lb.retry.attempts)
      .key("retryOn")
      .begin_array();
  for (int status : lb.retry.retryOn) w.value(status);
  w.end_array().field("budgetPercent", lb.retry.budgetPercent).end_object();
  w.key("timeouts")
      .begin_object()
      .field("connect", duration_text(lb.timeouts.connect))
      .field("responseHeader", duration_text(lb.timeouts.responseHeader))
      .field("streamIdle", duration_text(lb.timeouts.streamIdle))
      .field("total", duration_text(lb.timeouts.total))
      .field("idleConnection", duration_text(lb.timeouts.idleConnection))
      .end_object();
  if (lb.discoverModels.enabled) {
    w.key("discoverModels")
        .begin_object()
        .field("interval", duration_text(lb.discoverModels.interval))
        .field("path", lb.discoverModels.path)
        .end_object();
  }
  w.end_object();
}

}  // namespace

void write_config(JsonWriter& w, const config::Config& cfg) {
  w.begin_object().key("entryPoints").begin_object();
  for (const auto& [name, ep] : cfg.entryPoints) {
    w.key(name)
        .begin_object()
        .field("address", address_text(ep.host, ep.port))
        .key("timeouts")
        .begin_object()
        .field("readHeader", duration_text(ep.timeouts.readHeader))
        .field("readBody", duration_text(ep.timeouts.readBody))
        .field("idle", duration_text(ep.timeouts.idle))
        .end_object()
        .key("limits")
        .begin_object()
        .field("maxHeaderBytes", static_cast<std::uint64_t>(ep.limits.maxHeaderBytes))
        .field("maxHeaders", static_cast<std::uint64_t>(ep.limits.maxHeaders))
        .field("maxBodyBytes", static_cast<std::uint64_t>(ep.limits.maxBodyBytes))
        .end_object()
        .field("upstreamHeader", ep.upstreamHeader)
        .end_object();
  }
  w.end_object().key("http").begin_object().key("routers").begin_object();
  for (const auto& [name, r] : cfg.routers) {
    w.key(name).begin_object().field("rule", r.rule).field("service", r.service);
    if (r.priority) w.field("priority", *r.priority);
    if (!r.entryPoints.empty()) w.field("entryPoints", r.entryPoints);
    if (r.upstreamHeader) w.field("upstreamHeader", true);
    w.end_object();
  }
  w.end_object().key("services").begin_object();
  for (const auto& [name, s] : cfg.services) {
    w.key(name).begin_object().key("loadBalancer");
    write_load_balancer(w, s.loadBalancer);
    w.end_object();
  }
  w.end_object().end_object();  // services, http
  if (!cfg.tcpRouters.empty() || !cfg.tcpServices.empty()) write_tcp_config(w, cfg);

  w.key("models").begin_object();
  for (const auto& [name, m] : cfg.models) {
    w.key(name).begin_object();
    if (!m.target.empty()) w.field("target", m.target);
    if (!m.fallbacks.empty()) w.field("fallbacks", m.fallbacks);
    w.end_object();
  }
  w.end_object();

  w.key("ping").begin_object().field("enabled", cfg.ping.enabled);
  if (!cfg.ping.entryPoint.empty()) w.field("entryPoint", cfg.ping.entryPoint);
  w.field("path", cfg.ping.path).end_object();
  w.key("log").begin_object().field("level", cfg.log.level).end_object();
  w.key("admin")
      .begin_object()
      .field("address", address_text(cfg.admin.host, cfg.admin.port))
      .field("enabled", cfg.admin.enabled)
      .field("tokenSet", !cfg.admin.token.empty())
      .end_object();
  w.key("accessLog").begin_object().field("enabled", cfg.accessLog.enabled);
  if (cfg.accessLog.enabled) {
    w.field("path", cfg.accessLog.path.empty() ? std::string("stdout") : cfg.accessLog.path)
        .field("format", cfg.accessLog.format);
    if (!cfg.accessLog.fields.empty()) w.field("fields", cfg.accessLog.fields);
  }
  w.end_object();
  w.key("shutdown")
      .begin_object()
      .field("drainTimeout", duration_text(cfg.shutdown.drainTimeout))
      .field("acceptGrace", duration_text(cfg.shutdown.acceptGrace))
      .end_object();
  w.field("usage", cfg.usage).end_object();
}

std::string error_json(std::string_view message, std::string_view type, std::string_view code) {
  JsonWriter w;
  w.begin_object()
      .key("error")
      .begin_object()
      .field("message", message)
      .field("type", type)
      .field("code", code)
      .end_object()
      .end_object();
  return w.take();
}

std::string duration_text(config::Duration d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms % 1000 < 0) --secs;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ((ms % 1000) + 1000) % 1000);
}

}  // namespace modelgate::admin
