// What the gateway does with its connections between requests: an upstream connection the server
// closed while it sat in the pool costs the client nothing, a pooled connection is not reused
// after timeouts.idleConnection, a body that cannot be sent twice never meets a stale pooled
// connection, and a client that sends its next request before the answer to the previous one
// (pipelining) gets both answers, in order.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "support/capture_server.h"
#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/sim_process.h"
#include "support/tls_files.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

// A server that answers exactly one request per connection with a keep-alive response and then
// closes the connection without saying so, as a server whose keep-alive timeout is shorter than
// the gateway's pool time does.
class OneShotServer {
 public:
  OneShotServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd_, 16) != 0)
      throw std::runtime_error("OneShotServer: bind/listen failed");
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~OneShotServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  int answered() const { return answered_; }

 private:
  void serve() {
    while (!stop_) {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      std::string in;
      char buf[4096];
      while (in.find("\r\n\r\n") == std::string::npos) {
        const auto n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        in.append(buf, static_cast<std::size_t>(n));
      }
      if (in.find("\r\n\r\n") != std::string::npos) {
        static constexpr std::string_view kAnswer =
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
        if (::send(c, kAnswer.data(), kAnswer.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(kAnswer.size()))
          ++answered_;
      }
      ::close(c);
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

// Sends `first`, waits, sends `second` on the same connection, and returns all that comes back
// until the gateway closes it.
std::string send_twice(std::uint16_t port, const std::string& first, const std::string& second,
                       std::chrono::milliseconds between) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    ::send(fd, first.data(), first.size(), MSG_NOSIGNAL);
    std::this_thread::sleep_for(between);
    ::send(fd, second.data(), second.size(), MSG_NOSIGNAL);
    char buf[8192];
    for (;;) {
      const auto n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

// One entry point, every request to one server.
std::string one_service(std::uint16_t port) {
  return R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    all: {rule: "PathPrefix(`/`)", service: sim}
  services:
    sim:
      loadBalancer: {servers: [{url: )y" + url(port) + R"y(}]}
)y";
}

const std::string kChat =
    R"({"model":"Qwen2.5-0.5B-Instruct","max_tokens":1,"messages":[{"role":"user","content":"hi"}]})";

// Connections the sim has accepted so far, this question's own included.
int sim_connections(std::uint16_t port) {
  mt::HttpClient c("127.0.0.1", port, 2s);
  auto r = c.get("/admin/stats");
  std::smatch m;
  if (r.status != 200 || !std::regex_search(r.body, m, std::regex(R"("connections":(\d+))"))) return -1;
  return std::stoi(m[1]);
}

std::string chat_request(std::string_view model, bool close) {
  const std::string body = "{\"model\":\"" + std::string(model) +
                           "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" +
         std::string(close ? "Connection: close\r\n" : "") + "Content-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

// Sockets on this host connected to 127.0.0.1:`port` in TCP state `state` (/proc/net/tcp: 01
// established, 08 close-wait: the peer closed, this side has not), or in either of two states
// when `or_state` is given: one read of the table, so a socket moving from one to the other
// between two reads is not missed.
int sockets_to(std::uint16_t port, const std::string& state, const std::string& or_state = "") {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  char remote[16];
  std::snprintf(remote, sizeof remote, "0100007F:%04X", port);
  int n = 0;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, rem, st;
    fields >> sl >> local >> rem >> st;
    n += rem == remote && (st == state || (!or_state.empty() && st == or_state));
  }
  return n;
}

}  // namespace

TEST(ConnectionReuse, ServerClosingAPooledConnectionCostsTheClientNothing) {
  OneShotServer server;
  mt::GatewayProcess gw(one_service(server.port()), 1);
  mt::HttpClient client("127.0.0.1", gw.port());
  constexpr int kRequests = 6;
  for (int i = 0; i < kRequests; ++i) {
    // Each answer leaves a pooled connection the server has already closed: wait until it has.
    ASSERT_TRUE(mt::wait_until([&] { return sockets_to(server.port(), "01") == 0; }, 2s)) << i;
    auto r = client.get("/thing");
    EXPECT_EQ(r.status, 200) << i << ": " << r.body << r.error;
    EXPECT_EQ(r.body, "ok") << i;
  }
  EXPECT_EQ(server.answered(), kRequests);
  EXPECT_EQ(server.connections(), kRequests);  // one fresh connection per request, none wasted
}

TEST(ConnectionReuse, PooledConnectionIsNotReusedAfterTheDefaultIdleConnection) {
  // The default idleConnection (4 s) ends reuse before a uvicorn server's 5 s keep-alive would.
  mt::SimProcess sim("s");
  mt::GatewayProcess gw(one_service(sim.port()), 1);
  mt::HttpClient client("127.0.0.1", gw.port());
  ASSERT_EQ(client.post_json("/v1/chat/completions", kChat).status, 200);
  std::this_thread::sleep_for(50ms);
  ASSERT_EQ(client.post_json("/v1/chat/completions", kChat).status, 200);  // soon after: reused
  std::this_thread::sleep_for(4300ms);
  ASSERT_EQ(client.post_json("/v1/chat/completions", kChat).status, 200);  // after 4 s: a new one
  // Two connections from the gateway, and this question's own.
  EXPECT_EQ(sim_connections(sim.port()), 3);
}

TEST(ConnectionReuse, PooledConnectionTheServerClosedIsClosedWithinASecond) {
  mt::SimProcess sim("s", {"--keep-alive-timeout-ms", "200"});
  mt::GatewayProcess gw(one_service(sim.port()), 1);  // idleConnection 4 s: longer than this test
  mt::HttpClient client("127.0.0.1", gw.port());
  ASSERT_EQ(client.post_json("/v1/chat/completions", kChat).status, 200);
  EXPECT_EQ(sockets_to(sim.port(), "01"), 1) << "no pooled connection to the sim";
  // The sim closes it after 200 ms; the gateway notices within its next sweep (1 s).
  mt::wait_until([&] { return sockets_to(sim.port(), "01", "08") == 0; }, 2500ms);
  EXPECT_EQ(sockets_to(sim.port(), "08"), 0) << "the gateway keeps a connection the server closed";
}

TEST(ConnectionReuse, ChunkedBodyNeverMeetsAConnectionTheServerClosedWhileIdle) {
  // The server closes idle connections after 200 ms (as uvicorn after 5 s); the gateway would reuse
  // them for 4 s, so its pool holds connections the server has already closed.
  mt::SimProcess sim("s", {"--keep-alive-timeout-ms", "200"});
  mt::GatewayProcess gw(one_service(sim.port()), 1);
  const std::string body = kChat;
  for (int i = 0; i < 3; ++i) {
    {
      mt::HttpClient client("127.0.0.1", gw.port());
      ASSERT_EQ(client.post_json("/v1/chat/completions", body).status, 200) << i;  // leaves one pooled
    }
    // The server closes it (the gateway's end is then in CLOSE_WAIT, or closed by its sweep).
    ASSERT_TRUE(mt::wait_until([&] { return sockets_to(sim.port(), "01") == 0; }, 2s)) << i;
    char size[16];
    std::snprintf(size, sizeof size, "%zx", body.size());
    const std::string chunked =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
        std::string(size) + "\r\n" + body + "\r\n0\r\n\r\n";
    const std::string answer = mt::raw_exchange(gw.port(), chunked);
    EXPECT_EQ(answer.rfind("HTTP/1.1 200", 0), 0u) << i << ": " << answer;
  }
}

TEST(ConnectionReuse, PipelinedRequestWhileTheFirstIsServedIsAnsweredAfterIt) {
  // The first answer takes 150 ms; the second request arrives 60 ms in, while the gateway waits
  // for the server and watches the client connection.
  mt::SimProcess sim("slow", {"--models", "m-slow,m-fast", "--ttft-ms", "150", "--tpot-ms", "0"});
  mt::GatewayProcess gw(one_service(sim.port()), 1);
  const auto out = send_twice(gw.port(), chat_request("m-slow", false), chat_request("m-fast", true), 60ms);
  const auto first = out.find("\"model\":\"m-slow\"");
  const auto second = out.find("\"model\":\"m-fast\"");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_LT(first, second) << out;
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("HTTP/1.1 200", first), std::string::npos) << out;
}

TEST(ConnectionReuse, PipelinedRequestsInOneWriteAreAnsweredInOrder) {
  mt::SimProcess sim("fast", {"--models", "m-a,m-b", "--ttft-ms", "0", "--tpot-ms", "0"});
  mt::GatewayProcess gw(one_service(sim.port()), 1);
  const auto out = mt::raw_exchange(gw.port(), chat_request("m-a", false) + chat_request("m-b", false) +
                                                   chat_request("m-a", true));
  const auto a = out.find("\"model\":\"m-a\"");
  const auto b = out.find("\"model\":\"m-b\"");
  const auto a2 = out.find("\"model\":\"m-a\"", b == std::string::npos ? 0 : b);
  ASSERT_NE(a, std::string::npos) << out;
  ASSERT_NE(b, std::string::npos) << out;
  ASSERT_NE(a2, std::string::npos) << out;
  EXPECT_LT(a, b);
  EXPECT_LT(b, a2);
}

// A worker lends the same request state to one request after another: a POST's body, kept for
// retries, must not follow the next request that has none (a GET after it was once sent with the
// POST's body appended, which the server read as a malformed second request, answered 400 on
// the pooled connection to whichever request used it next).
TEST(ConnectionReuse, ABodyKeptForRetriesIsNotSentWithTheNextRequest) {
  mt::SimProcess sim("s0", {"--models", "m"});
  mt::CaptureServer capture;
  mt::GatewayProcess gw(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
http:
  routers:
    chat: {rule: "PathPrefix(`/v1/chat`)", service: engines}
    rest: {rule: "PathPrefix(`/`)", service: other}
  services:
    engines: {loadBalancer: {servers: [{url: "http://127.0.0.1:)y" + std::to_string(sim.port()) + R"y("}]}}
    other: {loadBalancer: {servers: [{url: "http://127.0.0.1:)y" + std::to_string(capture.port()) + R"y("}]}}
)y", 1);
  const std::string base = "http://127.0.0.1:" + std::to_string(gw.port());
  for (int i = 0; i < 2; ++i) {
    // curl sends a small body with its head: the gateway has it whole, and keeps it for retries.
    auto post = mt::run_command("curl", {"-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H",
                                         "Content-Type: application/json", "-d", mt::chat_json("m"),
                                         base + "/v1/chat/completions"});
    EXPECT_EQ(post.output, "200");
    // Another connection, the same worker, another server: a GET with no body.
    auto get = mt::run_command("curl", {"-sS", "-o", "/dev/null", "-w", "%{http_code}", base + "/x"});
    EXPECT_EQ(get.output, "200");
    EXPECT_TRUE(capture.last_head().starts_with("GET /x HTTP/1.1\r\n")) << capture.last_head();
  }
}
