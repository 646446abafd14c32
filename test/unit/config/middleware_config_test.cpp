// The http.middlewares section: each kind's settings land in Config, routers and chains name them
// (name@file too), and a kind that guards access but is not implemented refuses the file, at its
// place.
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <string_view>

#include "config/loader.h"

namespace modelgate::config {
namespace {

std::string all(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

// A file with one router `r` naming `names`, and `middlewares` (YAML at indent 4) defined.
LoadResult load_with(std::string_view middlewares, std::string_view names = "[m]") {
  const std::string yaml = std::string(R"y(entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    r: {rule: "PathPrefix(`/`)", service: s, middlewares: )y") +
                           std::string(names) + R"y(}
  services:
    s: {loadBalancer: {servers: [{url: "http://127.0.0.1:1"}]}}
  middlewares:
)y" + std::string(middlewares);
  return load_text(yaml, "test.yaml");
}

TEST(MiddlewareConfig, EveryKindLoads) {
  const LoadResult r = load_with(R"y(    m:
      chain: {middlewares: [h, strip, add@file, re, allow, auth, limit, flight, redirect, fwd, replace]}
    h:
      headers:
        customRequestHeaders: {X-Team: a, X-Drop: ""}
        customResponseHeaders: {X-Served-By: gw}
    strip: {stripPrefix: {prefixes: [/api, /v2]}}
    add: {addPrefix: {prefix: /v1}}
    replace: {replacePath: {path: /health}}
    re: {replacePathRegex: {regex: "^/old/(.*)", replacement: "/new/${1}"}}
    allow: {ipWhiteList: {sourceRange: [10.0.0.0/8, "::1"], ipStrategy: {depth: 2}}}
    auth: {basicAuth: {users: ["alice:$apr1$abc$xyz", "bob:{SHA}x="], realm: gate, removeHeader: true, headerField: X-User}}
    limit: {rateLimit: {average: 100, period: 1m, burst: 50, sourceCriterion: {requestHeaderName: X-Key}}}
    flight: {inFlightReq: {amount: 10, sourceCriterion: {requestHost: true}}}
    redirect: {redirectScheme: {scheme: https, port: 8443, permanent: true}}
    fwd: {forwardAuth: {address: "http://127.0.0.1:4181/check", trustForwardHeader: true, authResponseHeaders: [X-User]}}
)y");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  const Config& c = *r.config;
  ASSERT_EQ(c.middlewares.size(), 12u);
  EXPECT_EQ(c.routers.at("r").middlewares, std::vector<std::string>{"m"});
  EXPECT_EQ(c.middlewares.at("m").chain[2], "add");  // "@file" is the file provider's own name
  EXPECT_EQ(c.middlewares.at("h").requestHeaders[1].second, "");
  EXPECT_EQ(c.middlewares.at("re").replacement, "/new/$1");
  EXPECT_EQ(c.middlewares.at("allow").kind, MiddlewareKind::ipAllowList);
  EXPECT_EQ(c.middlewares.at("allow").ipStrategy.depth, 2);
  EXPECT_EQ(c.middlewares.at("allow").sourceRange.size(), 2u);
  EXPECT_EQ(c.middlewares.at("auth").users[1].hash, "{SHA}x=");
  EXPECT_EQ(c.middlewares.at("limit").period, std::chrono::minutes(1));
  EXPECT_EQ(c.middlewares.at("limit").burst, 50);
  EXPECT_EQ(c.middlewares.at("limit").sourceCriterion.by, SourceCriterion::By::header);
  EXPECT_EQ(c.middlewares.at("flight").sourceCriterion.by, SourceCriterion::By::host);
  EXPECT_EQ(c.middlewares.at("limit").sourceCriterion.requestHeaderName, "X-Key");
  EXPECT_EQ(c.middlewares.at("redirect").port, "8443");
  EXPECT_EQ(c.middlewares.at("fwd").authPort, 4181);
  EXPECT_EQ(c.middlewares.at("fwd").authPath, "/check");
}

TEST(MiddlewareConfig, SourceCriterionDefaultsAreTraefiks) {
  const LoadResult r = load_with("    m: {rateLimit: {average: 1}}\n    n: {inFlightReq: {amount: 1}}\n", "[m, n]");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(r.config->middlewares.at("m").sourceCriterion.by, SourceCriterion::By::ip);
  EXPECT_EQ(r.config->middlewares.at("n").sourceCriterion.by, SourceCriterion::By::host);
  const LoadResult both = load_with(
      "    m: {rateLimit: {average: 1, sourceCriterion: {requestHost: true, requestHeaderName: X}}}\n");
  EXPECT_FALSE(both.config);
  EXPECT_NE(all(both).find("expected one of ipStrategy, requestHeaderName or requestHost"), std::string::npos)
      << all(both);
}

TEST(MiddlewareConfig, GuardingKindsNotImplementedAreRefused) {
  const LoadResult r = load_with("    m: {digestAuth: {users: [\"a:b:c\"]}}\n");
  EXPECT_FALSE(r.config);
  EXPECT_NE(all(r).find("test.yaml:9:21: error: http.middlewares.m: middleware kind \"digestAuth\" is not "
                        "implemented by modelgate, and it guards access"),
            std::string::npos)
      << all(r);
  const LoadResult hosts = load_with("    m: {headers: {allowedHosts: [a.example]}}\n");
  EXPECT_FALSE(hosts.config);
  EXPECT_NE(all(hosts).find("allowedHosts is not implemented"), std::string::npos) << all(hosts);
}

TEST(MiddlewareConfig, OtherKindsNotImplementedAreWarnedAndSkipped) {
  const LoadResult r = load_with("    m: {compress: {}}\n");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(all(r), "test.yaml:9:9: warning: http.middlewares.m.compress: Traefik option \"compress\" is not "
                    "implemented by modelgate and is ignored\n");
  EXPECT_TRUE(r.config->routers.at("r").middlewares.empty());
}

TEST(MiddlewareConfig, ErrorsPointAtTheirPlace) {
  const auto error_of = [](std::string_view yaml, std::string_view names = "[m]") {
    const LoadResult r = load_with(yaml, names);
    EXPECT_FALSE(r.config) << yaml;
    return all(r);
  };
  EXPECT_NE(error_of("    m: {stripPrefix: {prefixes: [/a]}}\n", "[n]")
                .find("test.yaml:5:60: error: http.routers.r.middlewares[0]: unknown middleware \"n\""),
            std::string::npos)
      << error_of("    m: {stripPrefix: {prefixes: [/a]}}\n", "[n]");
  EXPECT_NE(error_of("    m: {ipAllowList: {sourceRange: [10.0.0.0/33]}}\n").find("test.yaml:9:37: error: "
                                                                               "http.middlewares.m.ipAllowList."
                                                                               "sourceRange[0]: invalid address"),
            std::string::npos)
      << error_of("    m: {ipAllowList: {sourceRange: [10.0.0.0/33]}}\n");
  EXPECT_NE(error_of("    m: {basicAuth: {users: [\"alice:secret\"]}}\n").find("test.yaml:9:30: error:"),
            std::string::npos)
      << error_of("    m: {basicAuth: {users: [\"alice:secret\"]}}\n");
  EXPECT_NE(error_of("    m: {replacePathRegex: {regex: \"(\", replacement: /}}\n").find("invalid regexp"),
            std::string::npos);
  EXPECT_NE(error_of("    m: {chain: {middlewares: [n]}}\n    n: {chain: {middlewares: [m]}}\n")
                .find("the chain contains itself"),
            std::string::npos);
  EXPECT_NE(error_of("    m: {stripPrefix: {}, addPrefix: {prefix: /a}}\n").find("expected exactly one kind"),
            std::string::npos);
  EXPECT_NE(error_of("    m: {stripPrefix: {prefixes: [/a]}}\n", "[m@docker]").find("provider \"docker\""),
            std::string::npos);
  EXPECT_NE(error_of("    m: {redirectScheme: {scheme: ftp}}\n").find("unknown scheme \"ftp\""), std::string::npos);
  EXPECT_NE(error_of("    m: {headers: {customRequestHeaders: {Content-Length: \"1\"}}}\n").find("framing"),
            std::string::npos);
}

TEST(MiddlewareConfig, UsersFileIsRead) {
  const std::string path = ::testing::TempDir() + "/htpasswd-config-test";
  {
    std::ofstream f(path);
    f << "# users\nalice:$apr1$salt$hash\n\nbob:$2y$05$abcdefghijklmnopqrstuu\n";
  }
  const LoadResult r = load_with("    m: {basicAuth: {usersFile: \"" + path + "\"}}\n");
  ASSERT_TRUE(r.config) << all(r);
  ASSERT_EQ(r.config->middlewares.at("m").users.size(), 2u);
  EXPECT_EQ(r.config->middlewares.at("m").users[1].name, "bob");
  {
    std::ofstream f(path);
    f << "alice:plain\n";
  }
  const LoadResult bad = load_with("    m: {basicAuth: {usersFile: \"" + path + "\"}}\n");
  EXPECT_FALSE(bad.config);
  EXPECT_NE(all(bad).find(path + ":1)"), std::string::npos) << all(bad);
}

}  // namespace
}  // namespace modelgate::config
