// What the gateway does to a request's header on its way to the server: hop-by-hop fields stay
// behind, X-Forwarded-* are added, Host is passed or replaced. A tiny capturing server records
// the exact bytes the gateway sends.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include "support/gateway_process.h"
#include "support/http_client.h"

namespace mt = modelgate::test;

namespace {

// Accepts connections on 127.0.0.1:0 and answers every request 200 with an empty body, keeping
// the head of the last request it saw.
class CaptureServer {
 public:
  CaptureServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 16);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CaptureServer() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  std::string last_head() {
    std::lock_guard lock(mutex_);
    return last_head_;
  }

 private:
  void serve() {
    for (;;) {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string data;
      char buf[4096];
      for (;;) {
        auto end = data.find("\r\n\r\n");
        if (end != std::string::npos) {
          {
            std::lock_guard lock(mutex_);
            last_head_ = data.substr(0, end + 4);
          }
          data.erase(0, end + 4);
          static constexpr char kReply[] =
              "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Hop: x\r\n\r\nok";
          if (::write(c, kReply, sizeof kReply - 1) < 0) break;
          continue;
        }
        auto n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
      }
      ::close(c);
    }
  }
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::mutex mutex_;
  std::string last_head_;
};

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
