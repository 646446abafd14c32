// What the gateway does to a request's header on its way to the server: hop-by-hop fields stay
// behind, X-Forwarded-* are added, Host is passed or replaced. A tiny capturing server records
// the exact bytes the gateway sends.
#include <gtest/gtest.h>

#include "support/capture_server.h"
#include "support/gateway_process.h"
#include "support/http_client.h"

namespace mt = modelgate::test;

namespace {

using mt::CaptureServer;

std::string config(std::uint16_t port, bool pass_host) {
  return "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nhttp:\n  routers:\n    all: {rule: "
         "\"PathPrefix(`/`)\", service: s}\n"
         "  services:\n    s:\n      loadBalancer:\n        passHostHeader: " +
         std::string(pass_host ? "true" : "false") +
         "\n        servers: [{url: \"http://127.0.0.1:" + std::to_string(port) + "\"}]\n";
}

}  // namespace

TEST(ForwardedHeaders, HopByHopRemovedForwardedAdded) {
  CaptureServer upstream;
  mt::GatewayProcess gw(config(upstream.port(), true));
  mt::HttpClient c("127.0.0.1", gw.port());
  auto r = c.get("/v1/models?x=1", {{"Host", "api.example.com"},
                                    {"Connection", "keep-alive, X-Secret-Hop"},
                                    {"X-Secret-Hop", "must not pass"},
                                    {"Keep-Alive", "timeout=5"},
                                    {"TE", "trailers"},
                                    {"Upgrade", "websocket"},
                                    {"X-Forwarded-For", "203.0.113.7"},
                                    {"Authorization", "Bearer abc"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, "ok");
  const std::string head = upstream.last_head();
  EXPECT_EQ(head.rfind("GET /v1/models?x=1 HTTP/1.1\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("\r\nHost: api.example.com\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Forwarded-For: 203.0.113.7, 127.0.0.1\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Forwarded-Proto: http\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Forwarded-Host: api.example.com\r\n"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nAuthorization: Bearer abc\r\n"), std::string::npos) << head;
  for (const char* hop : {"X-Secret-Hop", "Keep-Alive", "TE:", "Upgrade", "Connection"}) {
    EXPECT_EQ(head.find(std::string("\r\n") + hop), std::string::npos) << hop << " leaked:\n" << head;
  }
  // The server's own hop-by-hop fields do not reach the client either.
  EXPECT_FALSE(r.has_header("Connection") && r.header("Connection") == "keep-alive");
}

TEST(ForwardedHeaders, PassHostHeaderFalseSendsTheServersAddress) {
  CaptureServer upstream;
  mt::GatewayProcess gw(config(upstream.port(), false));
  mt::HttpClient c("127.0.0.1", gw.port());
  ASSERT_EQ(c.get("/", {{"Host", "service.example.com"}}).status, 200);
  const std::string head = upstream.last_head();
  EXPECT_NE(head.find("\r\nHost: 127.0.0.1:" + std::to_string(upstream.port()) + "\r\n"), std::string::npos)
      << head;
  EXPECT_NE(head.find("\r\nX-Forwarded-Host: service.example.com\r\n"), std::string::npos) << head;
}

TEST(ForwardedHeaders, UpstreamConnectionsAreReused) {
  CaptureServer upstream;
  mt::GatewayProcess gw(config(upstream.port(), true), 1);
  mt::HttpClient c("127.0.0.1", gw.port());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(c.get("/").status, 200);
  // The capture server handles one connection at a time: 20 answers on a reused connection
  // would be impossible to tell apart, so check the gateway kept one connection by asking a
  // second client, which is served too (the first connection is idle in the pool).
  mt::HttpClient c2("127.0.0.1", gw.port());
  EXPECT_EQ(c2.get("/").status, 200);
}
