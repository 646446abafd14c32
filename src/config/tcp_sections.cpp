// The tcp section, Traefik's shape (docs/tcp.md): tcp.routers send the connections of their entry
// points to tcp.services, load balancers over HOST:PORT servers. A rule is parsed here once with
// the TCP matchers (HostSNI, HostSNIRegexp, ClientIP; routing/rule.h), as HTTP rules are in
// routers.cpp.
//
// One entry point serves HTTP routers or TCP routers, never both: Traefik would try the TCP
// routers first and hand an unmatched connection to HTTP, which needs the first bytes of every
// connection read and judged; modelgate refuses the mix instead, with the place of each side. An
// HTTP router without entryPoints (every entry point) skips the TCP ones.
#include <algorithm>
#include <climits>
#include <set>
#include <string>
#include <variant>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "config/values.h"
#include "routing/rule.h"

namespace modelgate::config::detail {

namespace {

const Schema kTcp{{"routers", "services"}, {"middlewares", "serversTransports"}};
const Schema kTcpRouter{{"rule", "service", "priority", "entryPoints", "tls"}, {"middlewares", "ruleSyntax"}};
const Schema kTcpRouterTls{{"passthrough"}, {"certResolver", "domains", "options"}};
const Schema kTcpService{{"loadBalancer"}, {"weighted"}};
const Schema kTcpLoadBalancer{{"servers", "strategy", "healthCheck", "proxyProtocol", "terminationDelay",
                               "timeouts"},
                              {"serversTransport"}};
const Schema kTcpServer{{"address"}, {"tls", "weight"}};
const Schema kProxyProtocol{{"version"}};
const Schema kTcpTimeouts{{"connect"}};
constexpr std::string_view kServerExample = "servers: [{address: \"10.0.0.3:8000\"}]";

}  // namespace

void ConfigReader::load_tcp(const Entry& e) {
  each_key(e, kTcp, [&](std::string_view key, const Entry& f) {
    if (key == "routers") {
      each_named(f, "a map of TCP routers such as {NAME: {entryPoints: [tcp-in], rule: \"HostSNI(`*`)\", "
                    "service: ...}}",
                 [&](const std::string& name, const YAML::Mark& k, const Entry& v) { load_tcp_router(name, k, v); });
    } else {
      each_named(f, "a map of TCP services such as {NAME: {loadBalancer: {servers: [...]}}}",
                 [&](const std::string& name, const YAML::Mark& k, const Entry& v) { load_tcp_service(name, k, v); });
    }
  });
}

void ConfigReader::load_tcp_router(const std::string& name, const YAML::Mark& key, const Entry& e) {
  TcpRouter r;
  r.name = name;
  r.pos = pos(key);
  std::optional<Entry> rule, entry_points;
  bool has_service = false;
  bool has_tls = false;
  each_key(e, kTcpRouter, [&](std::string_view k, const Entry& f) {
    if (k == "rule") {
      if (read_string(f, r.rule, "a rule such as \"HostSNI(`*`)\"")) rule = f;
    } else if (k == "service") {
      has_service = true;
      if (read_string(f, r.service, "the name of a TCP service")) {
        if (r.service.ends_with("@file")) r.service.resize(r.service.size() - 5);
        tcp_service_refs_.push_back({name, {r.service, f.path, f.mark}});
      }
    } else if (k == "priority") {
      int p = 0;
      if (read_int(f, p, INT_MIN, INT_MAX)) r.priority = p;
    } else if (k == "entryPoints") {
      entry_points = f;
      each_item(f, "a list of entry point names such as [tcp-in]", [&](const Entry& item) {
        std::string ep;
        if (!read_string(item, ep, "the name of an entry point")) return;
        entry_point_refs_.push_back({ep, item.path, item.mark});
        r.entryPoints.push_back(std::move(ep));
      });
    } else if (k == "tls") {
      has_tls = true;
      each_key(f, kTcpRouterTls, [&](std::string_view, const Entry& g) { read_bool(g, r.tlsPassthrough); });
      if (!r.tlsPassthrough && (f.node.IsNull() || f.node.IsMap())) {
        error(f.mark, fmt::format("{}: modelgate does not terminate TLS on TCP routers, it passes it "
                                  "through: expected tls: {{passthrough: true}}",
                                  f.path));
      }
    }
  });
  if (!e.node.IsNull() && !e.node.IsMap()) return;  // reported
  if (rule) {
    r.rulePos = scalar_char_pos(rule->node, 0);
    auto parsed = routing::parse_rule(r.rule, routing::RuleSyntax::tcp);
    if (const auto* err = std::get_if<routing::RuleError>(&parsed)) {
      report(Severity::error, scalar_char_pos(rule->node, err->offset), fmt::format("{}: {}", rule->path, err->message));
    } else {
      r.compiled = std::make_shared<const routing::Rule>(std::get<routing::Rule>(std::move(parsed)));
      if (r.compiled->needs_sni() && !has_tls) {
        // Traefik's words, and the fix.
        error(rule->mark, fmt::format("{}: invalid rule: \"{}\" , has HostSNI matcher, but no TLS on router; "
                                      "add tls: {{passthrough: true}} to route TLS connections by their "
                                      "server name, or use HostSNI(`*`)",
                                      rule->path, r.rule));
      }
    }
  } else {
    error(key, fmt::format("{}: missing \"rule\", expected e.g. rule: \"HostSNI(`*`)\"", e.path));
  }
  if (!has_service) {
    error(key, fmt::format("{}: missing \"service\", expected the name of a service defined under tcp.services",
                           e.path));
  }
  if (r.entryPoints.empty() && !(entry_points && !entry_points->node.IsSequence() && !entry_points->node.IsNull())) {
    error(entry_points ? entry_points->mark : key,
          fmt::format("{}: a TCP router needs entryPoints, the entry points whose connections it takes "
                      "(they then serve no HTTP router), e.g. entryPoints: [tcp-in]",
                      entry_points ? entry_points->path : e.path));
  }
  config_.tcpRouters[name] = std::move(r);
}

void ConfigReader::load_tcp_service(const std::string& name, const YAML::Mark& key, const Entry& e) {
  TcpService svc;
  svc.name = name;
  svc.pos = pos(key);
  bool has_load_balancer = false;
  each_key(e, kTcpService, [&](std::string_view, const Entry& f) {
    has_load_balancer = true;
    load_tcp_load_balancer(f, svc.loadBalancer);
  });
  if (!has_load_balancer && (e.node.IsNull() || e.node.IsMap())) {
    error(key, fmt::format("{}: missing \"loadBalancer\", expected e.g. loadBalancer: {{{}}}", e.path,
                           kServerExample));
  }
  config_.tcpServices[name] = std::move(svc);
}

void ConfigReader::load_tcp_load_balancer(const Entry& e, TcpLoadBalancer& lb) {
  std::optional<Entry> servers;
  each_key(e, kTcpLoadBalancer, [&](std::string_view k, const Entry& f) {
    if (k == "servers") {
      servers = f;
      std::set<std::string> seen;
      each_item(f, "a list of servers such as [{address: \"10.0.0.3:8000\"}]", [&](const Entry& item) {
        if (!item.node.IsMap()) return type_error(item, "a server such as {address: \"10.0.0.3:8000\"}");
        Server s;
        s.pos = pos(item.mark);
        bool has_address = false;
        each_key(item, kTcpServer, [&](std::string_view, const Entry& g) {
          has_address = true;
          std::string address;
          if (!read_string(g, address, "an address such as \"10.0.0.3:8000\"")) return;
          if (auto why = parse_tcp_address(address, s); !why.empty()) {
            return error(g.mark, fmt::format("{}: invalid address \"{}\": {}, expected \"HOST:PORT\" such as "
                                             "\"10.0.0.3:8000\"",
                                             g.path, address, why));
          }
          if (!seen.insert(lower(s.host) + ":" + std::to_string(s.port)).second) {
            error(g.mark, fmt::format("{}: duplicate server \"{}\", it is already listed", g.path, address));
          }
        });
        if (!has_address) {
          error(item.mark, fmt::format("{}: missing \"address\", expected e.g. address: \"10.0.0.3:8000\"", item.path));
        }
        lb.servers.push_back(std::move(s));
      });
    } else if (k == "strategy") {
      std::string s;
      if (!read_string(f, s, "a strategy name")) return;
      const std::vector<std::string_view> known(kTcpStrategies.begin(), kTcpStrategies.end());
      if (std::find(known.begin(), known.end(), s) == known.end()) {
        return error(f.mark, fmt::format("{}: unknown TCP strategy \"{}\"{}", f.path, s,
                                         hint(s, known)));
      }
      lb.strategy = s;
    } else if (k == "healthCheck") {
      load_health_check(f, lb.healthCheck);
    } else if (k == "proxyProtocol") {
      lb.proxyProtocol = 2;
      each_key(f, kProxyProtocol, [&](std::string_view, const Entry& g) {
        int v = 0;
        if (!read_int(g, v, 1, 2)) return;
        if (v == 1) {
          return error(g.mark, fmt::format("{}: PROXY protocol version 1 (text) is not supported, expected "
                                           "version: 2",
                                           g.path));
        }
        lb.proxyProtocol = v;
      });
    } else if (k == "terminationDelay") {
      // Traefik's unit is milliseconds; a negative number waits for the other side forever.
      int ms = 0;
      if (f.node.IsScalar() && !f.node.Scalar().empty() &&
          (f.node.Scalar()[0] == '-' || is_digits(f.node.Scalar()))) {
        if (read_int(f, ms, INT_MIN, INT_MAX)) lb.terminationDelay = Duration(ms);
      } else {
        read_duration(f, lb.terminationDelay, /*allow_zero=*/true);
      }
    } else if (k == "timeouts") {
      each_key(f, kTcpTimeouts, [&](std::string_view, const Entry& g) { read_duration(g, lb.connectTimeout, false); });
    }
  });
  if (!e.node.IsNull() && !e.node.IsMap()) return;
  if (!servers) {
    error(e.mark, fmt::format("{}: missing \"servers\", expected at least one server, e.g. {}", e.path,
                              kServerExample));
  } else if (servers->node.IsNull() || (servers->node.IsSequence() && servers->node.size() == 0)) {
    error(servers->mark, fmt::format("{}: no server is listed, expected at least one, e.g. {}", servers->path,
                                     kServerExample));
  }
}

// After the walk: TCP routers name TCP services, and no entry point serves both kinds of router.
void ConfigReader::check_tcp() {
  std::vector<std::string_view> services;
  for (const auto& [name, _] : config_.tcpServices) services.push_back(name);
  for (const auto& [router, ref] : tcp_service_refs_) {
    if (config_.tcpServices.count(ref.name)) continue;
    std::string expected = hint(ref.name, services, "one of the TCP services");
    if (services.empty()) expected = ", and no service is defined under tcp.services";
    if (config_.services.count(ref.name)) expected += " (an HTTP service of http.services cannot take TCP connections)";
    error(ref.mark, fmt::format("{}: unknown TCP service \"{}\"{}", ref.path, ref.name, expected));
  }
  std::map<std::string, std::string> tcp_entry_points;  // entry point -> a TCP router using it
  for (const auto& [name, r] : config_.tcpRouters) {
    for (const auto& ep : r.entryPoints) tcp_entry_points.emplace(ep, name);
  }
  for (const auto& [router, ref] : http_entry_point_refs_) {
    auto it = tcp_entry_points.find(ref.name);
    if (it == tcp_entry_points.end()) continue;
    error(ref.mark, fmt::format("{}: entry point \"{}\" takes TCP connections (tcp.routers.{} uses it), "
                                "modelgate does not serve HTTP routers and TCP routers on one entry "
                                "point; give one of them another entry point",
                                ref.path, ref.name, it->second));
  }
  for (const auto& [ep, mark] : tls_entry_points_) {
    auto it = tcp_entry_points.find(ep);
    if (it == tcp_entry_points.end()) continue;
    error(mark, fmt::format("entryPoints.{}.http.tls: entry point \"{}\" takes TCP connections (tcp.routers.{} "
                            "uses it), which are passed through, not terminated; remove http.tls or use "
                            "another entry point",
                            ep, ep, it->second));
  }
}

}  // namespace modelgate::config::detail
