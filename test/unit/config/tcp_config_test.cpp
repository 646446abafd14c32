// The tcp section (docs/tcp.md): routers and services in Traefik's shape, and every mistake
// reported at its FILE:LINE:COL with what was expected.
#include <string>

#include <gtest/gtest.h>

#include "config/loader.h"

namespace modelgate::config {
namespace {

LoadResult load(std::string_view yaml) {
  if (yaml.starts_with('\n')) yaml.remove_prefix(1);
  return load_text(yaml, "tcp.yaml");
}

std::string all(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

TEST(TcpConfig, TheIssueExampleAndEveryOption) {
  const LoadResult r = load(R"yaml(
entryPoints:
  tcp-in: {address: ":9000"}
  web: {address: ":8080"}
tcp:
  routers:
    all: {entryPoints: [tcp-in], rule: "HostSNI(`*`)", service: engines}
    sni:
      entryPoints: [tcp-in]
      rule: "HostSNI(`a.example`, `b.example`) || HostSNIRegexp(`^c\\.`) && ClientIP(`10.0.0.0/8`)"
      service: engines
      priority: 50
      tls: {passthrough: true}
  services:
    engines:
      loadBalancer:
        servers: [{address: "10.0.0.3:8000"}, {address: "[::1]:8001"}]
        strategy: least_connections
        healthCheck: {interval: 2s, timeout: 1s}
        proxyProtocol: {version: 2}
        terminationDelay: 250
        timeouts: {connect: 3s}
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  const Config& c = *r.config;
  ASSERT_EQ(c.tcpRouters.size(), 2u);
  const TcpRouter& sni = c.tcpRouters.at("sni");
  EXPECT_TRUE(sni.tlsPassthrough);
  EXPECT_EQ(sni.effectivePriority(), 50);
  ASSERT_TRUE(sni.compiled);
  EXPECT_TRUE(sni.compiled->needs_sni());
  EXPECT_FALSE(c.tcpRouters.at("all").compiled->needs_sni());
  const TcpLoadBalancer& lb = c.tcpServices.at("engines").loadBalancer;
  ASSERT_EQ(lb.servers.size(), 2u);
  EXPECT_EQ(lb.servers[0].host, "10.0.0.3");
  EXPECT_EQ(lb.servers[0].port, 8000);
  EXPECT_EQ(lb.servers[1].host, "::1");
  EXPECT_EQ(lb.strategy, "least_connections");
  EXPECT_TRUE(lb.healthCheck.enabled);
  EXPECT_EQ(lb.healthCheck.path, "");  // a connect check
  EXPECT_EQ(lb.healthCheck.interval, 2s);
  EXPECT_EQ(lb.proxyProtocol, 2);
  EXPECT_EQ(lb.terminationDelay, 250ms);
  EXPECT_EQ(lb.connectTimeout, 3s);
}

TEST(TcpConfig, MistakesArePlacedAndSayWhatWasExpected) {
  const LoadResult r = load(R"yaml(
entryPoints:
  tcp-in: {address: ":9000"}
tcp:
  routers:
    a: {entryPoints: [tcp-in], rule: "Host(`x`)", service: s}
    b: {entryPoints: [tcp-in], rule: "HostSNI(`x.example`)", service: s}
    c: {rule: "HostSNI(`*`)", service: nope}
  services:
    s:
      loadBalancer:
        servers: [{address: "http://10.0.0.1:80"}, {address: "10.0.0.1"}]
        strategy: least_request
        proxyProtocol: {version: 1}
)yaml");
  EXPECT_FALSE(r.config);
  const std::string out = all(r);
  EXPECT_NE(out.find("tcp.yaml:5:39: error: tcp.routers.a.rule: \"Host\" is a matcher of HTTP routers, expected one of "
                     "the TCP matchers HostSNI, HostSNIRegexp, ClientIP"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tcp.yaml:6:38: error: tcp.routers.b.rule: invalid rule: \"HostSNI(`x.example`)\" , has "
                     "HostSNI matcher, but no TLS on router; add tls: {passthrough: true}"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tcp.yaml:7:5: error: tcp.routers.c: a TCP router needs entryPoints"), std::string::npos) << out;
  EXPECT_NE(out.find("tcp.yaml:7:40: error: tcp.routers.c.service: unknown TCP service \"nope\""), std::string::npos)
      << out;
  EXPECT_NE(out.find("tcp.yaml:11:29: error: tcp.services.s.loadBalancer.servers[0].address: invalid address "
                     "\"http://10.0.0.1:80\": a TCP server has no scheme, expected \"HOST:PORT\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tcp.yaml:11:62: error: tcp.services.s.loadBalancer.servers[1].address: invalid address "
                     "\"10.0.0.1\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tcp.yaml:12:19: error: tcp.services.s.loadBalancer.strategy: unknown TCP strategy "
                     "\"least_request\""),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tcp.yaml:13:34: error: tcp.services.s.loadBalancer.proxyProtocol.version: PROXY protocol "
                     "version 1 (text) is not supported, expected version: 2"),
            std::string::npos)
      << out;
}

TEST(TcpConfig, AnEntryPointServesHttpOrTcpRoutersNotBoth) {
  const LoadResult r = load(R"yaml(
entryPoints:
  tcp-in: {address: ":9000", http: {tls: {}}}
  web: {address: ":8080"}
tls:
  certificates: [{certFile: c.pem, keyFile: k.pem}]
http:
  routers:
    everywhere: {rule: "PathPrefix(`/`)", service: h}
    named: {entryPoints: [web, tcp-in], rule: "PathPrefix(`/`)", service: h}
  services:
    h: {loadBalancer: {servers: [{url: "http://10.0.0.1"}]}}
tcp:
  routers:
    t: {entryPoints: [tcp-in], rule: "HostSNI(`*`)", service: s}
  services:
    s: {loadBalancer: {servers: [{address: "10.0.0.1:9000"}]}}
)yaml");
  const std::string out = all(r);
  EXPECT_NE(out.find("tcp.yaml:9:32: error: http.routers.named.entryPoints[1]: entry point \"tcp-in\" takes TCP "
                     "connections (tcp.routers.t uses it), modelgate does not serve HTTP routers and TCP routers "
                     "on one entry point"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("entryPoints.tcp-in.http.tls: entry point \"tcp-in\" takes TCP connections"), std::string::npos)
      << out;
  // The router without entryPoints is not an error: it serves the HTTP entry points only.
  EXPECT_EQ(out.find("everywhere"), std::string::npos) << out;
}

TEST(TcpConfig, TlsWithoutPassthroughIsRefused) {
  const LoadResult r = load(R"yaml(
entryPoints:
  tcp-in: {address: ":9000"}
tcp:
  routers:
    t: {entryPoints: [tcp-in], rule: "HostSNI(`a.example`)", service: s, tls: {}}
  services:
    s: {loadBalancer: {servers: [{address: "10.0.0.1:9000"}]}}
)yaml");
  EXPECT_NE(all(r).find("tcp.yaml:5:79: error: tcp.routers.t.tls: modelgate does not terminate TLS on TCP routers, "
                        "it passes it through: expected tls: {passthrough: true}"),
            std::string::npos)
      << all(r);
}

}  // namespace
}  // namespace modelgate::config
