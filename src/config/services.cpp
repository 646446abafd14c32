// The http.services section: each service is a load balancer over model servers, with its
// strategy, hashKey, active and passive health checks, retries, upstream timeouts and model
// discovery. See config_reader.h, and docs/configuration.md for what each key means.
#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "config/values.h"

namespace modelgate::config::detail {

namespace {

const Schema kService{{"loadBalancer", "weighted", "mirroring", "failover"}};
const Schema kLoadBalancer{{"servers", "passHostHeader", "strategy", "hashKey", "healthCheck",
                            "passiveHealth", "retry", "timeouts", "discoverModels", "loadFactor",
                            "cacheAware", "serverMetrics", "serversTransport"},
                           {"sticky", "responseForwarding", "passiveHealthCheck"}};
const Schema kServer{{"url", "weight", "backup", "maxConnections", "drain"}, {"preservePath"}};
const Schema kHealthCheck{{"path", "interval", "timeout", "expectStatus", "rise", "fall"},
                          {"scheme", "mode", "method", "port", "hostname", "followRedirects",
                           "headers", "unhealthyInterval"},
                          {{"status", "expectStatus"}}};
const Schema kPassiveHealth{
    {"consecutiveFailures", "baseEjection", "maxEjectionPercent", "endOnActiveCheck"}};
const Schema kRetry{{"attempts", "retryOn", "budgetPercent"}};
const Schema kUpstreamTimeouts{{"connect", "responseHeader", "streamIdle", "total", "idleConnection"}};
const Schema kDiscoverModels{{"interval", "path"}};
const Schema kCacheAware{{"maxIndexBytes", "balanceAbsThreshold", "balanceRelThreshold", "newPrefixSlack"}};
const Schema kServerMetrics{{"interval", "path", "flavour"}};
constexpr std::array<std::string_view, 5> kFlavours = {"auto", "vllm", "sglang", "llamacpp", "tgi"};

const std::vector<std::string_view>& known_strategies() {
  static const std::vector<std::string_view> names(kStrategies.begin(), kStrategies.end());
  return names;
}

}  // namespace

void ConfigReader::load_service(const std::string& name, const YAML::Mark& key, const Entry& e) {
  Service svc;
  svc.name = name;
  svc.pos = pos(key);
  bool has_load_balancer = false;
  bool unsupported = false;
  each_key(e, kService, [&](std::string_view k, const Entry& f) {
    if (k == "loadBalancer") {
      has_load_balancer = true;
      load_load_balancer(f, svc.loadBalancer);
    } else {
      unsupported = true;
      error(f.mark, fmt::format("{}: Traefik service type \"{}\" is not supported by modelgate, use "
                                "loadBalancer",
                                f.path, k));
    }
  });
  if (!has_load_balancer && !unsupported && (e.node.IsNull() || e.node.IsMap())) {
    error(key, fmt::format("{}: missing \"loadBalancer\", expected e.g. loadBalancer: {{servers: "
                           "[{{url: \"http://10.0.0.3:8080\"}}]}}",
                           e.path));
  }
  config_.services[name] = std::move(svc);
}

void ConfigReader::load_load_balancer(const Entry& e, LoadBalancer& lb) {
  std::optional<Entry> servers;
  std::optional<Entry> hash_key;
  each_key(e, kLoadBalancer, [&](std::string_view k, const Entry& f) {
    if (k == "servers") {
      servers = f;
      load_servers(f, lb);
    } else if (k == "passHostHeader") {
      read_bool(f, lb.passHostHeader);
    } else if (k == "strategy") {
      load_strategy(f, lb);
    } else if (k == "hashKey") {
      std::string h;
      if (!read_string(f, h, "client_ip, header:NAME, cookie:NAME or body:FIELD")) return;
      if (!valid_hash_key(h)) {
        error(f.mark, fmt::format("{}: invalid hashKey \"{}\", expected client_ip, header:NAME, "
                                  "cookie:NAME or body:FIELD",
                                  f.path, h));
        return;
      }
      lb.hashKey = h;
      lb.hashKeySet = true;
      hash_key = f;
    } else if (k == "healthCheck") {
      load_health_check(f, lb.healthCheck);
    } else if (k == "passiveHealth") {
      load_passive_health(f, lb.passiveHealth);
    } else if (k == "retry") {
      load_retry(f, lb.retry);
    } else if (k == "timeouts") {
      load_upstream_timeouts(f, lb.timeouts);
    } else if (k == "discoverModels") {
      load_discover_models(f, lb.discoverModels);
    } else if (k == "loadFactor") {
      read_ratio(f, lb.loadFactor, 1.0, 100.0);
    } else if (k == "cacheAware") {
      load_cache_aware(f, lb.cacheAware);
    } else if (k == "serverMetrics") {
      load_server_metrics(f, lb.serverMetrics);
    } else if (k == "serversTransport") {
      if (read_string(f, lb.serversTransport, "the name of an http.serversTransports entry"))
        transport_refs_.push_back({lb.serversTransport, f.path, f.mark});
    }
  });
  if (!e.node.IsNull() && !e.node.IsMap()) return;  // already reported
  constexpr std::string_view kExample = "servers: [{url: \"http://10.0.0.3:8080\"}]";
  // A service read from etcd may have no server for a while: its servers are registered under
  // leases (modelgate register) and the last one can leave. Refusing that state would keep the
  // gone server and block every later etcd change, so it is served as an empty pool (502).
  if (from_kv(e.mark) && (!servers || servers->node.IsNull())) {
    warning(e.mark, fmt::format("{}: no server is listed (yet); its requests are answered 502 until one is "
                                "registered", e.path));
  } else if (!servers) {
    error(e.mark, fmt::format("{}: missing \"servers\", expected at least one server, e.g. {}",
                              e.path, kExample));
  } else if (servers->node.IsNull() || (servers->node.IsSequence() && servers->node.size() == 0)) {
    error(servers->mark, fmt::format("{}: no server is listed, expected at least one, e.g. {}",
                                     servers->path, kExample));
  } else if (!lb.servers.empty() &&
             std::all_of(lb.servers.begin(), lb.servers.end(),
                         [](const Server& s) { return s.weight == 0; })) {
    warning(servers->mark, fmt::format("{}: every server has weight 0, so none will ever be picked",
                                       servers->path));
  }
  // Only consistent_hash reads hashKey; ip_hash always hashes the client's address
  // (runtime/snapshot.cpp), so hashKey: client_ip is the one value that matches what it does.
  if (hash_key && lb.strategy == "ip_hash" && lb.hashKey != "client_ip") {
    warning(hash_key->mark, fmt::format("{}: hashKey is only used by the consistent_hash strategy, "
                                        "ip_hash always hashes the client IP; use strategy: "
                                        "consistent_hash to hash {}",
                                        hash_key->path, lb.hashKey));
  } else if (hash_key && lb.strategy != "consistent_hash" && lb.strategy != "ip_hash" &&
             lb.strategy != "session") {
    warning(hash_key->mark, fmt::format("{}: hashKey is only used by the consistent_hash and "
                                        "session strategies, this service uses {}",
                                        hash_key->path, lb.strategy));
  }
}

void ConfigReader::load_strategy(const Entry& e, LoadBalancer& lb) {
  std::string s;
  if (!read_string(e, s, "a strategy name")) return;
  if (s == "wrr") s = "weighted_round_robin";  // Traefik's name
  const std::vector<std::string_view>& known = known_strategies();
  if (std::find(known.begin(), known.end(), s) == known.end()) {
    error(e.mark, fmt::format("{}: unknown strategy \"{}\"{}", e.path, s, hint(s, known)));
    return;
  }
  lb.strategy = s;
}

void ConfigReader::load_servers(const Entry& e, LoadBalancer& lb) {
  std::map<std::string, int> seen;  // normalised address -> line
  each_item(e, "a list of servers such as [{url: \"http://10.0.0.3:8080\"}]", [&](const Entry& item) {
    if (!item.node.IsMap()) {
      type_error(item, "a server such as {url: \"http://10.0.0.3:8080\"}");
      return;
    }
    Server s;
    s.pos = pos(item.mark);
    bool has_url = false;
    each_key(item, kServer, [&](std::string_view k, const Entry& f) {
      if (k == "url") {
        has_url = true;
        std::string url;
        if (!read_string(f, url, "a URL such as \"http://10.0.0.3:8080\"")) return;
        if (auto why = parse_server_url(url, s); !why.empty()) {
          error(f.mark, fmt::format("{}: invalid server URL \"{}\": {}, expected "
                                    "\"http[s]://HOST[:PORT][/PATH]\"",
                                    f.path, url, why));
          return;
        }
        const std::string id = fmt::format("{}:{}{}", lower(s.host), s.port, s.basePath);
        if (auto it = seen.find(id); it != seen.end()) {
          error(f.mark, fmt::format("{}: duplicate server \"{}\", the same server is already listed "
                                    "on line {}",
                                    f.path, url, it->second));
          return;
        }
        seen.emplace(id, pos(f.mark).line);
      } else if (k == "weight") {
        read_int(f, s.weight, 0, kNoMax);
      } else if (k == "backup") {
        read_bool(f, s.backup);
      } else if (k == "maxConnections") {
        read_int(f, s.maxConnections, 0, kNoMax);
      } else if (k == "drain") {
        read_bool(f, s.drain);
      }
    });
    if (!has_url) {
      error(item.mark, fmt::format("{}: missing \"url\", expected e.g. url: \"http://10.0.0.3:8080\"",
                                   item.path));
    }
    lb.servers.push_back(std::move(s));
  });
}

void ConfigReader::load_health_check(const Entry& e, HealthCheck& hc) {
  hc.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kHealthCheck, [&](std::string_view k, const Entry& f) {
    if (k == "path") {
      read_url_path(f, hc.path);
    } else if (k == "interval") {
      read_duration(f, hc.interval, false);
    } else if (k == "timeout") {
      read_duration(f, hc.timeout, false);
    } else if (k == "expectStatus") {
      read_status(f, hc.expectStatus, /*allow_zero=*/true);
    } else if (k == "rise") {
      read_int(f, hc.rise, 1, kNoMax);
    } else if (k == "fall") {
      read_int(f, hc.fall, 1, kNoMax);
    }
  });
}

void ConfigReader::load_passive_health(const Entry& e, PassiveHealth& ph) {
  each_key(e, kPassiveHealth, [&](std::string_view k, const Entry& f) {
    if (k == "consecutiveFailures") {
      read_int(f, ph.consecutiveFailures, 1, kNoMax);
    } else if (k == "baseEjection") {
      read_duration(f, ph.baseEjection, false);
    } else if (k == "maxEjectionPercent") {
      read_int(f, ph.maxEjectionPercent, 0, 100);
    } else if (k == "endOnActiveCheck") {
      read_bool(f, ph.endOnActiveCheck);
    }
  });
}

void ConfigReader::load_retry(const Entry& e, Retry& r) {
  each_key(e, kRetry, [&](std::string_view k, const Entry& f) {
    if (k == "attempts") {
      read_int(f, r.attempts, 1, kNoMax);
    } else if (k == "budgetPercent") {
      read_int(f, r.budgetPercent, 0, 100);
    } else if (k == "retryOn") {
      std::vector<int> codes;
      each_item(f, "a list of HTTP statuses such as [502, 503]", [&](const Entry& item) {
        int code = 0;
        if (read_status(item, code, /*allow_zero=*/false)) codes.push_back(code);
      });
      r.retryOn = std::move(codes);
    }
  });
}

void ConfigReader::load_upstream_timeouts(const Entry& e, UpstreamTimeouts& t) {
  each_key(e, kUpstreamTimeouts, [&](std::string_view k, const Entry& f) {
    if (k == "connect") {
      read_duration(f, t.connect, false);
    } else if (k == "responseHeader") {
      read_duration(f, t.responseHeader, false);
    } else if (k == "streamIdle") {
      read_duration(f, t.streamIdle, false);
    } else if (k == "total") {
      read_duration(f, t.total, /*allow_zero=*/true);
    } else if (k == "idleConnection") {
      read_duration(f, t.idleConnection, /*allow_zero=*/true);
    }
  });
}

void ConfigReader::load_discover_models(const Entry& e, DiscoverModels& d) {
  d.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kDiscoverModels, [&](std::string_view k, const Entry& f) {
    if (k == "interval") {
      read_duration(f, d.interval, false);
    } else if (k == "path") {
      read_url_path(f, d.path);
    }
  });
}

bool ConfigReader::read_ratio(const Entry& e, double& out, double min, double max) {
  double v = 0;
  bool ok = false;
  if (e.node.IsScalar()) {
    const std::string& t = e.node.Scalar();
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
    ok = ec == std::errc() && end == t.data() + t.size();
  }
  if (!ok || v < min || v > max) {
    error(e.mark, fmt::format("{}: invalid number {}, expected a number from {} to {}, e.g. {}", e.path,
                              describe(e.node), min, max, min == 1.0 ? "1.25" : "1.5"));
    return false;
  }
  out = v;
  return true;
}

void ConfigReader::load_cache_aware(const Entry& e, CacheAware& c) {
  each_key(e, kCacheAware, [&](std::string_view k, const Entry& f) {
    if (k == "maxIndexBytes") {
      std::size_t n = 0;
      if (!read_size(f, n)) return;
      if (n < 4096) {
        error(f.mark, fmt::format("{}: {} bytes is too small for a prefix index, expected at least "
                                  "4KiB, e.g. \"16MiB\"",
                                  f.path, n));
        return;
      }
      c.maxIndexBytes = n;
    } else if (k == "balanceAbsThreshold") {
      read_int(f, c.balanceAbsThreshold, 0, kNoMax);
    } else if (k == "balanceRelThreshold") {
      read_ratio(f, c.balanceRelThreshold, 1.0, 100.0);
    } else if (k == "newPrefixSlack") {
      read_int(f, c.newPrefixSlack, 0, 1000);
    }
  });
}

void ConfigReader::load_server_metrics(const Entry& e, ServerMetrics& m) {
  m.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kServerMetrics, [&](std::string_view k, const Entry& f) {
    if (k == "interval") {
      read_duration(f, m.interval, false);
    } else if (k == "path") {
      read_url_path(f, m.path);
    } else if (k == "flavour") {
      std::string v;
      if (!read_string(f, v, "auto, vllm, sglang, llamacpp or tgi")) return;
      if (std::find(kFlavours.begin(), kFlavours.end(), v) == kFlavours.end()) {
        error(f.mark, fmt::format("{}: unknown flavour \"{}\", expected auto, vllm, sglang, llamacpp "
                                  "or tgi{}",
                                  f.path, v, hint(v, {kFlavours.begin(), kFlavours.end()})));
        return;
      }
      m.flavour = v;
    }
  });
}

}  // namespace modelgate::config::detail
