// Traefik's middlewares on the real gateway: what the server receives (a capturing server records
// the exact head), what the client gets back, and a file that names a guarding kind modelgate does
// not implement refused at its place, at start and on reload.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <regex>
#include <thread>

#include "support/capture_server.h"
#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using mt::CaptureServer;
using namespace std::chrono_literals;

namespace {

// A gateway config: routers (YAML at indent 4) over service `s` at 127.0.0.1:`port`, and
// middlewares (indent 4).
std::string config(std::uint16_t port, const std::string& routers, const std::string& middlewares) {
  return "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nhttp:\n  routers:\n" + routers +
         "  services:\n    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:" + std::to_string(port) +
         "\"}]}}\n  middlewares:\n" + middlewares;
}

std::string shell(const std::string& command) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(command.c_str(), "r"), &::pclose);
  char buf[512];
  while (p && std::fgets(buf, sizeof buf, p.get())) out += buf;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

bool has_line(const std::string& head, const std::string& line) {
  return head.find("\r\n" + line + "\r\n") != std::string::npos;
}

}  // namespace

TEST(Middlewares, RewritesPathAndHeadersBothWays) {
  CaptureServer upstream;
  mt::GatewayProcess gw(config(upstream.port(),
                               "    api: {rule: \"PathPrefix(`/api`)\", service: s, middlewares: [edit@file]}\n"
                               "    old: {rule: \"PathPrefix(`/old`)\", service: s, middlewares: [re]}\n"
                               "    plain: {rule: \"PathPrefix(`/`)\", service: s}\n",
                               "    edit: {chain: {middlewares: [strip, add, hdr]}}\n"
                               "    strip: {stripPrefix: {prefixes: [/api]}}\n"
                               "    add: {addPrefix: {prefix: /v1}}\n"
                               "    re: {replacePathRegex: {regex: \"^/old/(.*)\", replacement: \"/v1/${1}\"}}\n"
                               "    hdr:\n      headers:\n"
                               "        customRequestHeaders: {X-Team: blue, X-Secret: \"\"}\n"
                               "        customResponseHeaders: {X-Served-By: gateway, X-Hop: \"\"}\n"));
  mt::HttpClient c("127.0.0.1", gw.port());
  auto r = c.get("/api/models?limit=2", {{"X-Team", "forged"}, {"X-Secret", "s"}, {"Accept", "*/*"}});
  ASSERT_EQ(r.status, 200) << r.error;
  std::string head = upstream.last_head();
  EXPECT_EQ(head.rfind("GET /v1/models?limit=2 HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_TRUE(has_line(head, "X-Team: blue")) << head;
  EXPECT_TRUE(has_line(head, "X-Forwarded-Prefix: /api")) << head;
  EXPECT_TRUE(has_line(head, "Accept: */*")) << head;
  EXPECT_EQ(head.find("forged"), std::string::npos) << head;
  EXPECT_EQ(head.find("X-Secret"), std::string::npos) << head;
  EXPECT_EQ(r.header("X-Served-By"), "gateway");
  EXPECT_FALSE(r.has_header("X-Hop"));  // the server's field, removed by customResponseHeaders

  ASSERT_EQ(c.get("/old/chat/completions").status, 200);
  head = upstream.last_head();
  EXPECT_EQ(head.rfind("GET /v1/chat/completions HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_TRUE(has_line(head, "X-Replaced-Path: /old/chat/completions")) << head;

  // A router without middlewares is untouched.
  ASSERT_EQ(c.get("/other", {{"X-Team", "own"}}).status, 200);
  head = upstream.last_head();
  EXPECT_EQ(head.rfind("GET /other HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_TRUE(has_line(head, "X-Team: own")) << head;
}

TEST(Middlewares, BasicAuthWithHtpasswdEntries) {
  const std::string alice = shell("htpasswd -nbB -C 5 alice wonderland");
  const std::string bob = shell("htpasswd -nbm bob builder");  // apr1
  ASSERT_EQ(alice.rfind("alice:$2y$", 0), 0u) << alice;
  ASSERT_EQ(bob.rfind("bob:$apr1$", 0), 0u) << bob;
  CaptureServer upstream;
  mt::GatewayProcess gw(config(upstream.port(), "    r: {rule: \"PathPrefix(`/`)\", service: s, middlewares: [auth]}\n",
                               "    auth: {basicAuth: {users: [\"" + alice + "\", \"" + bob +
                                   "\"], realm: models, removeHeader: true, headerField: X-WebAuth-User}}\n"));
  const std::string base = "curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:" + std::to_string(gw.port()) + "/v1/models";
  EXPECT_EQ(shell(base), "401");
  EXPECT_EQ(shell(base + " -u alice:wrong"), "401");
  EXPECT_EQ(shell(base + " -u alice:wonderland"), "200");
  EXPECT_TRUE(has_line(upstream.last_head(), "X-WebAuth-User: alice")) << upstream.last_head();
  EXPECT_EQ(upstream.last_head().find("Authorization"), std::string::npos) << upstream.last_head();
  EXPECT_EQ(shell(base + " -u bob:builder"), "200");
  EXPECT_EQ(upstream.requests(), 2);  // the refused ones never reached the server

  mt::HttpClient c("127.0.0.1", gw.port());
  auto r = c.get("/v1/models");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("WWW-Authenticate"), "Basic realm=\"models\"");
  EXPECT_NE(r.body.find("\"code\":\"unauthorized\""), std::string::npos) << r.body;
  EXPECT_EQ(c.get("/v1/models").status, 401);  // the connection stays usable
}

TEST(Middlewares, IpAllowListRateLimitAndRedirect) {
  CaptureServer upstream;
  mt::GatewayProcess gw(config(upstream.port(),
                               "    closed: {rule: \"PathPrefix(`/closed`)\", service: s, middlewares: [office]}\n"
                               "    open: {rule: \"PathPrefix(`/open`)\", service: s, middlewares: [local]}\n"
                               "    proxied: {rule: \"PathPrefix(`/proxied`)\", service: s, middlewares: [behind]}\n"
                               "    limited: {rule: \"PathPrefix(`/limited`)\", service: s, middlewares: [limit]}\n"
                               "    secure: {rule: \"PathPrefix(`/secure`)\", service: s, middlewares: [tls]}\n",
                               "    office: {ipAllowList: {sourceRange: [10.0.0.0/8, \"fd00::/8\"]}}\n"
                               "    local: {ipWhiteList: {sourceRange: [127.0.0.0/8]}}\n"
                               "    behind: {ipAllowList: {sourceRange: [10.0.0.0/8], ipStrategy: {depth: 1}}}\n"
                               "    limit: {rateLimit: {average: 1, period: 1m, burst: 2}}\n"
                               "    tls: {redirectScheme: {scheme: https, permanent: true}}\n"));
  mt::HttpClient c("127.0.0.1", gw.port());
  EXPECT_EQ(c.get("/closed").status, 403);
  EXPECT_EQ(c.get("/open").status, 200);
  EXPECT_EQ(c.get("/proxied", {{"X-Forwarded-For", "10.9.9.9"}}).status, 200);
  EXPECT_EQ(c.get("/proxied", {{"X-Forwarded-For", "10.9.9.9, 192.0.2.1"}}).status, 403);
  EXPECT_EQ(c.get("/proxied").status, 403);

  EXPECT_EQ(c.get("/limited").status, 200);
  EXPECT_EQ(c.get("/limited").status, 200);
  auto r = c.get("/limited");
  EXPECT_EQ(r.status, 429);
  EXPECT_FALSE(r.header("Retry-After").empty());
  EXPECT_LE(std::stoi(r.header("Retry-After")), 60);

  r = c.get("/secure/x?y=1", {{"Host", "models.example:8080"}});
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.header("Location"), "https://models.example/secure/x?y=1");
  const int before = upstream.requests();
  EXPECT_EQ(c.get("/closed").status, 403);
  EXPECT_EQ(upstream.requests(), before);
}

TEST(Middlewares, InFlightReqRefusesOverTheAmount) {
  mt::SimProcess sim("slow", {"--models", "m", "--ttft-ms", "2500"});
  mt::GatewayProcess gw(config(sim.port(), "    r: {rule: \"PathPrefix(`/`)\", service: s, middlewares: [one]}\n",
                               "    one: {inFlightReq: {amount: 1}}\n"));
  const std::string body = R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":2})";
  auto slow = std::async(std::launch::async, [&] {
    mt::HttpClient c("127.0.0.1", gw.port(), 20s);
    return c.post_json("/v1/chat/completions", body).status;
  });
  std::this_thread::sleep_for(700ms);  // the first request is at the sim, waiting for its first token
  mt::HttpClient c("127.0.0.1", gw.port());
  EXPECT_EQ(c.post_json("/v1/chat/completions", body).status, 429);
  EXPECT_EQ(slow.get(), 200);
  EXPECT_EQ(c.get("/v1/models").status, 200);  // given back when the first one ended
}

TEST(Middlewares, ForwardAuthLetsThroughOrAnswersAsTheService) {
  CaptureServer upstream;
  CaptureServer auth(
      "HTTP/1.1 200 OK\r\nX-Auth-User: carol\r\nX-Auth-Role: admin\r\nContent-Length: 0\r\n\r\n");
  mt::GatewayProcess gw(config(upstream.port(), "    r: {rule: \"PathPrefix(`/`)\", service: s, middlewares: [fwd]}\n",
                               "    fwd:\n      forwardAuth:\n        address: \"http://127.0.0.1:" +
                                   std::to_string(auth.port()) +
                                   "/verify\"\n        authResponseHeaders: [X-Auth-User, X-Auth-Missing]\n"));
  mt::HttpClient c("127.0.0.1", gw.port());
  auto r = c.get("/v1/models?x=1", {{"Authorization", "Bearer t"}, {"X-Auth-Missing", "forged"},
                                    {"X-Forwarded-Host", "spoofed"}});
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string asked = auth.last_head();
  EXPECT_EQ(asked.rfind("GET /verify HTTP/1.1\r\n", 0), 0u) << asked;
  EXPECT_TRUE(has_line(asked, "Authorization: Bearer t")) << asked;
  EXPECT_TRUE(has_line(asked, "X-Forwarded-Method: GET")) << asked;
  EXPECT_TRUE(has_line(asked, "X-Forwarded-Uri: /v1/models?x=1")) << asked;
  EXPECT_TRUE(has_line(asked, "X-Forwarded-For: 127.0.0.1")) << asked;
  EXPECT_EQ(asked.find("spoofed"), std::string::npos) << asked;  // trustForwardHeader is off
  const std::string sent = upstream.last_head();
  EXPECT_TRUE(has_line(sent, "X-Auth-User: carol")) << sent;
  EXPECT_EQ(sent.find("X-Auth-Role"), std::string::npos) << sent;  // not in authResponseHeaders
  EXPECT_EQ(sent.find("forged"), std::string::npos) << sent;       // absent in the answer: removed

  auth.set_reply("HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"sso\"\r\nContent-Type: "
                 "text/plain\r\nContent-Length: 6\r\n\r\ndenied");
  const int before = upstream.requests();
  r = c.get("/v1/models");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.body, "denied");
  EXPECT_EQ(r.header("WWW-Authenticate"), "Bearer realm=\"sso\"");
  EXPECT_EQ(upstream.requests(), before);
}

TEST(Middlewares, GuardingKindNotImplementedIsRefusedAtStartAndOnReload) {
  CaptureServer upstream;
  const std::string refused = config(upstream.port(), "    r: {rule: \"PathPrefix(`/`)\", service: s, middlewares: [d]}\n",
                                     "    d: {digestAuth: {users: [\"test:traefik:a2688e031edb4be6a3797f3882655c05\"]}}\n");
  const std::string path = mt::temp_dir() + "/refused.yaml";
  { std::ofstream(path) << refused; }
  mt::Process check(MODELGATE_BIN, {"check", "--config", path});
  EXPECT_NE(check.wait(10s).value_or(0), 0);
  EXPECT_TRUE(check.wait_for_line(std::regex(R"(refused\.yaml:9:21: error: .*"digestAuth" is not implemented)"), 2s))
      << check.output();

  mt::GatewayProcess gw(config(upstream.port(), "    r: {rule: \"PathPrefix(`/`)\", service: s, middlewares: [d]}\n",
                               "    d: {ipAllowList: {sourceRange: [127.0.0.1]}}\n"));
  mt::HttpClient c("127.0.0.1", gw.port());
  ASSERT_EQ(c.get("/").status, 200);
  gw.write_config(refused);
  EXPECT_TRUE(gw.process().wait_for_line(std::regex("config reload .* rejected"), 12s)) << gw.process().output();
  EXPECT_EQ(c.get("/").status, 200);  // the running configuration stays
  EXPECT_TRUE(gw.process().running());
}

TEST(Middlewares, RateLimitCountersSurviveAReloadWhileUnchanged) {
  CaptureServer upstream;
  const auto with = [&](int generation, int burst) {
    return config(upstream.port(),
                  "    limited: {rule: \"PathPrefix(`/limited`)\", service: s, middlewares: [limit]}\n"
                  "    marker: {rule: \"PathPrefix(`/marker`)\", service: s, middlewares: [gen]}\n",
                  "    limit: {rateLimit: {average: 1, period: 1h, burst: " + std::to_string(burst) + "}}\n" +
                      "    gen: {headers: {customResponseHeaders: {X-Generation: \"" + std::to_string(generation) +
                      "\"}}}\n");
  };
  mt::GatewayProcess gw(with(1, 1));
  mt::HttpClient c("127.0.0.1", gw.port());
  EXPECT_EQ(c.get("/limited").status, 200);
  EXPECT_EQ(c.get("/limited").status, 429);
  const auto reloaded = [&](const std::string& generation) {
    return mt::wait_until([&] { return c.get("/marker").header("X-Generation") == generation; }, 12s, 50ms);
  };
  gw.write_config(with(2, 1));  // another middleware changed: this one's bucket is kept, still empty
  ASSERT_TRUE(reloaded("2")) << gw.process().output();
  EXPECT_EQ(c.get("/limited").status, 429);
  gw.write_config(with(3, 2));  // its own definition changed: a new, full bucket
  ASSERT_TRUE(reloaded("3")) << gw.process().output();
  EXPECT_EQ(c.get("/limited").status, 200);
}

TEST(Middlewares, ForwardAuthServiceThatCannotBeReachedIs500) {
  CaptureServer upstream;
  std::uint16_t closed = 0;
  { closed = CaptureServer().port(); }  // a port nothing listens on any more
  mt::GatewayProcess gw(config(upstream.port(), "    r: {rule: \"PathPrefix(`/`)\", service: s, middlewares: [fwd]}\n",
                               "    fwd: {forwardAuth: {address: \"http://127.0.0.1:" + std::to_string(closed) + "/\"}}\n"));
  mt::HttpClient c("127.0.0.1", gw.port());
  auto r = c.get("/v1/models");
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("auth_service_unavailable"), std::string::npos) << r.body;
  EXPECT_EQ(upstream.requests(), 0);
}
