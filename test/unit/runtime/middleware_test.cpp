// The middleware steps without sockets: path rewriting, header edits, address matching with
// ipStrategy, htpasswd checks against entries made now by the real `htpasswd` and `openssl`
// tools, and the rate and in-flight limits at their edges under an injected clock.
#include <gtest/gtest.h>

#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include "config/loader.h"
#include "http1/head.h"
#include "runtime/htpasswd.h"
#include "runtime/middleware.h"

namespace modelgate::runtime {
namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

// The output of a shell command, without its final newline.
std::string run(const std::string& command) {
  std::string out;
  std::unique_ptr<FILE, int (*)(FILE*)> p(::popen(command.c_str(), "r"), &::pclose);
  char buf[512];
  while (p && std::fgets(buf, sizeof buf, p.get())) out += buf;
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

// A request head parsed from `text` (which must outlive it).
struct Request {
  explicit Request(const std::string& text, const char* peer = "192.0.2.1") : text_(text) {
    EXPECT_EQ(http1::parse_request(text_, head, {}), http1::Status::complete);
    ip = *routing::IpAddress::parse(peer);
    const auto q = head.target.find('?');
    path = head.target.substr(0, q);
    query = q == std::string_view::npos ? std::string_view{} : head.target.substr(q + 1);
  }
  MiddlewareRequest view(std::int64_t now = 0) const { return {head, path, query, head.host, ip, now, tls}; }
  bool tls = false;  // came over TLS
  std::string text_;
  http1::RequestHead head;
  routing::IpAddress ip;
  std::string_view path, query;
};

// The chain of router `r` in a file whose middlewares are `yaml` (indent 4), naming `names`.
struct Chain {
  explicit Chain(const std::string& yaml, const std::string& names = "[m]") {
    auto r = config::load_text(R"y(entryPoints: {web: {address: "127.0.0.1:0"}}
http:
  routers: {r: {rule: "PathPrefix(`/`)", service: s, middlewares: )y" + names + R"y(}}
  services: {s: {loadBalancer: {servers: [{url: "http://127.0.0.1:1"}]}}}
  middlewares:
)y" + yaml,
                               "test.yaml");
    EXPECT_TRUE(r.config);
    if (!r.config) return;
    cfg = *r.config;
    chain = compile_middlewares("r", cfg.routers.at("r").middlewares, cfg.middlewares, states);
  }
  // Runs every step; the status of the reply, or 0 when the request goes on.
  int pass(const Request& req, RequestEdits& edits, MiddlewareReply& reply, std::int64_t now = 0) const {
    for (const auto& step : chain->steps) {
      if (run_step(step, req.view(now), edits, reply) != StepResult::next) return reply.status;
    }
    edits.finish(req.query);
    return 0;
  }
  config::Config cfg;
  MiddlewareStates states;
  std::shared_ptr<const MiddlewareChain> chain;
};

std::string forwarded(const RequestEdits& e) {
  std::string out;
  e.request.append_to(out);
  return out;
}

TEST(MiddlewarePaths, StripAddReplaceAndRegexRewriteInOrder) {
  Chain c(R"y(    m: {chain: {middlewares: [strip, add]}}
    strip: {stripPrefix: {prefixes: [/api, /a]}}
    add: {addPrefix: {prefix: /v1}}
    re: {replacePathRegex: {regex: "^/old/([a-z]+)/(.*)", replacement: "/new/${2}/$1"}}
    rp: {replacePath: {path: /health}}
)y");
  Request req("GET /api/models?x=1 HTTP/1.1\r\nHost: h\r\n\r\n");
  RequestEdits edits;
  MiddlewareReply reply;
  ASSERT_EQ(c.pass(req, edits, reply), 0);
  EXPECT_EQ(edits.target, "/v1/models?x=1");
  EXPECT_EQ(forwarded(edits), "X-Forwarded-Prefix: /api\r\n");

  Request whole("GET /api HTTP/1.1\r\nHost: h\r\n\r\n");  // the whole path stripped leaves "/"
  edits.reset();
  ASSERT_EQ(c.pass(whole, edits, reply), 0);
  EXPECT_EQ(edits.target, "/v1/");

  Chain re("    m: {replacePathRegex: {regex: \"^/old/([a-z]+)/(.*)\", replacement: \"/new/${2}/$1\"}}\n");
  Request old("GET /old/abc/d/e HTTP/1.1\r\nHost: h\r\n\r\n");
  edits.reset();
  ASSERT_EQ(re.pass(old, edits, reply), 0);
  EXPECT_EQ(edits.target, "/new/d/e/abc");
  EXPECT_EQ(forwarded(edits), "X-Replaced-Path: /old/abc/d/e\r\n");
  Request other("GET /other HTTP/1.1\r\nHost: h\r\n\r\n");  // no match: untouched
  edits.reset();
  ASSERT_EQ(re.pass(other, edits, reply), 0);
  EXPECT_FALSE(edits.path_set);
  EXPECT_EQ(edits.finish(other.query), "");
}

TEST(MiddlewareHeaders, SetReplaceAndRemove) {
  Chain c(R"y(    m:
      headers:
        customRequestHeaders: {X-Team: a, Authorization: ""}
        customResponseHeaders: {X-Served-By: gw, Server: ""}
)y");
  ASSERT_TRUE(c.chain->edits_response);
  Request req("GET / HTTP/1.1\r\nHost: h\r\nX-Team: forged\r\nAuthorization: Bearer x\r\nAccept: */*\r\n\r\n");
  RequestEdits edits;
  MiddlewareReply reply;
  ASSERT_EQ(c.pass(req, edits, reply), 0);
  std::string head;
  http1::write_request_head(head, req.head, {"h", "", "192.0.2.1", "h", {}, {}, &edits.request});
  EXPECT_NE(head.find("\r\nX-Team: a\r\n"), std::string::npos) << head;
  EXPECT_EQ(head.find("forged"), std::string::npos) << head;
  EXPECT_EQ(head.find("Authorization"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nAccept: */*\r\n"), std::string::npos) << head;
  EXPECT_TRUE(edits.response.touches("server"));
  EXPECT_EQ(*edits.response.value("x-served-by"), "gw");
}

TEST(MiddlewareAllowList, CidrsV4V6AndIpStrategy) {
  Chain c("    m: {ipAllowList: {sourceRange: [10.0.0.0/8, \"2001:db8::/32\"]}}\n");
  RequestEdits edits;
  MiddlewareReply reply;
  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 10.1.1.1\r\n\r\n";
  EXPECT_EQ(c.pass(Request(head, "10.200.3.4"), edits, reply), 0);
  EXPECT_EQ(c.pass(Request(head, "2001:db8:1::5"), edits, reply), 0);
  EXPECT_EQ(c.pass(Request(head, "11.0.0.1"), edits, reply), 403);  // X-Forwarded-For is not trusted
  EXPECT_EQ(c.pass(Request(head, "2001:db9::1"), edits, reply), 403);

  Chain depth("    m: {ipAllowList: {sourceRange: [10.0.0.0/8], ipStrategy: {depth: 2}}}\n");
  const auto with_xff = [](const std::string& xff) {
    return "GET / HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: " + xff + "\r\n\r\n";
  };
  EXPECT_EQ(depth.pass(Request(with_xff("1.1.1.1, 10.0.0.5, 2.2.2.2")), edits, reply), 0);
  EXPECT_EQ(depth.pass(Request(with_xff("10.0.0.5, 1.1.1.1, 2.2.2.2")), edits, reply), 403);
  EXPECT_EQ(depth.pass(Request(with_xff("2.2.2.2")), edits, reply), 403);  // too few entries

  Chain excluded("    m: {ipAllowList: {sourceRange: [10.0.0.0/8], ipStrategy: {excludedIPs: [192.168.0.0/16]}}}\n");
  EXPECT_EQ(excluded.pass(Request(with_xff("10.0.0.5, 192.168.1.1, 192.168.2.2")), edits, reply), 0);
  EXPECT_EQ(excluded.pass(Request(with_xff("10.0.0.5, 8.8.8.8, 192.168.2.2")), edits, reply), 403);
}

TEST(Htpasswd, EntriesMadeByTheRealTools) {
  const std::string bcrypt = run("htpasswd -nbB -C 5 alice 's3cret' | cut -d: -f2-");
  const std::string sha = run("htpasswd -nbs alice 's3cret' | cut -d: -f2-");
  const std::string apr1 = run("openssl passwd -apr1 -salt Ab3dE 's3cret'");
  const std::string md5 = run("openssl passwd -1 -salt xyz 's3cret'");
  ASSERT_TRUE(bcrypt.starts_with("$2y$")) << bcrypt;
  ASSERT_TRUE(sha.starts_with("{SHA}")) << sha;
  ASSERT_TRUE(apr1.starts_with("$apr1$Ab3dE$")) << apr1;
  for (const auto& hash : {bcrypt, sha, apr1, md5}) {
    EXPECT_TRUE(htpasswd_matches(hash, "s3cret")) << hash;
    EXPECT_FALSE(htpasswd_matches(hash, "s3cre")) << hash;
    EXPECT_FALSE(htpasswd_matches(hash, "")) << hash;
  }
  EXPECT_EQ(md5_crypt("s3cret", "Ab3dE", "$apr1$"), apr1);
  EXPECT_EQ(md5_crypt("s3cret", "xyz", "$1$"), md5);  // the same algorithm as libxcrypt's $1$
}

TEST(MiddlewareBasicAuth, ChecksTheUserAndForwardsItsName) {
  const std::string apr1 = run("openssl passwd -apr1 -salt Ab3dE 'pw'");
  Chain c("    m: {basicAuth: {users: [\"alice:" + apr1 + "\"], realm: gate, removeHeader: true, headerField: X-User}}\n");
  RequestEdits edits;
  MiddlewareReply reply;
  // "alice:pw" and "alice:px" in base64
  EXPECT_EQ(c.pass(Request("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWxpY2U6cHc=\r\n\r\n"), edits, reply), 0);
  EXPECT_EQ(forwarded(edits), "X-User: alice\r\n");
  EXPECT_TRUE(edits.request.touches("authorization"));
  edits.reset();
  EXPECT_EQ(c.pass(Request("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic YWxpY2U6cHg=\r\n\r\n"), edits, reply), 401);
  EXPECT_EQ(reply.head_lines, "WWW-Authenticate: Basic realm=\"gate\"\r\n");
  EXPECT_EQ(c.pass(Request("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), edits, reply), 401);
  EXPECT_EQ(c.pass(Request("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic !!\r\n\r\n"), edits, reply), 401);
}

TEST(MiddlewareRateLimit, BurstThenAverageAtTheEdges) {
  // 10 per second (one per 100 ms), 3 at once.
  Chain c("    m: {rateLimit: {average: 10, period: 1s, burst: 3}}\n");
  const Request a("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "10.0.0.1");
  const Request b("GET / HTTP/1.1\r\nHost: h\r\n\r\n", "10.0.0.2");
  RequestEdits edits;
  MiddlewareReply reply;
  const std::int64_t t0 = 1000 * kSecond;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.pass(a, edits, reply, t0), 0) << i;
  EXPECT_EQ(c.pass(a, edits, reply, t0), 429);
  EXPECT_EQ(reply.head_lines, "Retry-After: 1\r\nX-Retry-In: 100ms\r\n");
  EXPECT_EQ(c.pass(b, edits, reply, t0), 0);  // another source has its own bucket
  const std::int64_t ms = kSecond / 1000;
  EXPECT_EQ(c.pass(a, edits, reply, t0 + 100 * ms - 1), 429);  // one token back after exactly 100 ms
  EXPECT_EQ(c.pass(a, edits, reply, t0 + 100 * ms), 0);
  EXPECT_EQ(c.pass(a, edits, reply, t0 + 100 * ms), 429);
  // After a long pause the bucket is full again, not fuller.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.pass(a, edits, reply, t0 + 60 * kSecond), 0) << i;
  EXPECT_EQ(c.pass(a, edits, reply, t0 + 60 * kSecond), 429);
}

TEST(MiddlewareRateLimit, HugeBurstOverALongPeriodDoesNotOverflow) {
  RateLimiter limiter(1, 3600 * kSecond, std::numeric_limits<std::int64_t>::max());
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(limiter.admit(7, 1000 * kSecond), 0) << i;
}

TEST(MiddlewareRateLimit, StateSurvivesAReloadOnlyWhenUnchanged) {
  MiddlewareStates states;
  config::Middleware m;
  m.name = "m";
  m.kind = config::MiddlewareKind::rateLimit;
  m.average = 1;
  m.definition = "rateLimit: {average: 1}";
  std::map<std::string, config::Middleware> defs{{"m", m}};
  auto first = compile_middlewares("r", {"m"}, defs, states);
  auto again = compile_middlewares("r", {"m"}, defs, states);
  EXPECT_EQ(first->steps[0].state, again->steps[0].state);
  auto other_router = compile_middlewares("r2", {"m"}, defs, states);
  EXPECT_NE(first->steps[0].state, other_router->steps[0].state);  // as in Traefik: per router
  defs["m"].definition = "rateLimit: {average: 2}";
  auto changed = compile_middlewares("r", {"m"}, defs, states);
  EXPECT_NE(first->steps[0].state, changed->steps[0].state);
}

TEST(MiddlewareInFlight, CountsPerSourceAndGivesBack) {
  Chain c("    m: {inFlightReq: {amount: 2, sourceCriterion: {requestHeaderName: X-Key}}}\n");
  const Request k1("GET / HTTP/1.1\r\nHost: h\r\nX-Key: one\r\n\r\n");
  const Request k2("GET / HTTP/1.1\r\nHost: h\r\nX-Key: two\r\n\r\n");
  MiddlewareReply reply;
  RequestEdits e1, e2, e3, e4;
  EXPECT_EQ(c.pass(k1, e1, reply), 0);
  EXPECT_EQ(c.pass(k1, e2, reply), 0);
  EXPECT_EQ(c.pass(k1, e3, reply), 429);
  EXPECT_EQ(c.pass(k2, e4, reply), 0);
  e1.release();
  EXPECT_EQ(c.pass(k1, e3, reply), 0);
  e2.release();
  e3.release();
  e4.release();
}

TEST(MiddlewareRedirect, SchemeAndPort) {
  Chain c("    m: {redirectScheme: {scheme: https, permanent: true}}\n");
  RequestEdits edits;
  MiddlewareReply reply;
  EXPECT_EQ(c.pass(Request("GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), edits, reply), 301);
  EXPECT_EQ(reply.head_lines, "Location: https://example.com/a?b=1\r\n");
  EXPECT_EQ(c.pass(Request("POST /a HTTP/1.1\r\nHost: example.com\r\nContent-Length: 0\r\n\r\n"), edits, reply), 308);
  Chain port("    m: {redirectScheme: {scheme: https, port: 8443}}\n");
  EXPECT_EQ(port.pass(Request("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"), edits, reply), 302);
  EXPECT_EQ(reply.head_lines, "Location: https://[::1]:8443/\r\n");
  Chain http("    m: {redirectScheme: {scheme: http}}\n");
  EXPECT_EQ(http.pass(Request("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), edits, reply), 0);  // already there
}

TEST(MiddlewareRedirect, ARequestThatCameOverTlsIsAlreadyOnHttps) {
  Chain c("    m: {redirectScheme: {scheme: https}}\n");
  RequestEdits edits;
  MiddlewareReply reply;
  Request secure("GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n");
  secure.tls = true;
  EXPECT_EQ(c.pass(secure, edits, reply), 0);
  Chain port("    m: {redirectScheme: {scheme: https, port: 8443}}\n");
  EXPECT_EQ(port.pass(secure, edits, reply), 302);  // https, but not the port asked for
  EXPECT_EQ(reply.head_lines, "Location: https://example.com:8443/a\r\n");
  Chain plain("    m: {redirectScheme: {scheme: http}}\n");
  EXPECT_EQ(plain.pass(secure, edits, reply), 302);
  EXPECT_EQ(reply.head_lines, "Location: http://example.com/a\r\n");
}

}  // namespace
}  // namespace modelgate::runtime
