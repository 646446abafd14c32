// The gateway's workers taking the listening sockets of a binary upgrade (net/listen_fds.h):
// every inherited socket of an entry point is served even when the old process ran more workers
// (a socket nobody accepts on would hold the connections the kernel queues on it), a socket of
// another address is left alone, and workers without an inherited socket bind their own.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

#include "config/loader.h"
#include "net/listen_fds.h"
#include "proxy/gateway.h"
#include "runtime/snapshot.h"

namespace mg = modelgate;
using mg::tcp;

namespace {

constexpr const char* kConfig = R"y(
ping: {}
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    all: {rule: "PathPrefix(`/`)", service: pool}
  services:
    pool:
      loadBalancer: {servers: [{url: "http://127.0.0.1:9"}]}
)y";

std::shared_ptr<const mg::runtime::Snapshot> snapshot(mg::runtime::ServerRegistry& registry) {
  auto loaded = mg::config::load_text(kConfig, "test");
  if (!loaded.config) throw std::runtime_error("config does not load");
  return std::get<std::shared_ptr<const mg::runtime::Snapshot>>(
      mg::runtime::build_snapshot(*loaded.config, registry));
}

// A listening SO_REUSEPORT socket on `host`:`port` (0: any free port), as a gateway worker has.
int reuseport_listener(const char* host, std::uint16_t port) {
  mg::asio::io_context io;
  tcp::acceptor a(io);
  const tcp::endpoint at(mg::asio::ip::make_address(host), port);
  a.open(at.protocol());
  int one = 1;
  ::setsockopt(a.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  a.bind(at);
  a.listen();
  return a.release();
}

std::uint16_t port_of(int fd) { return mg::net::listening_endpoint(fd)->port(); }

bool handed(const mg::proxy::Gateway& gw, int fd) {
  const auto& l = gw.listeners();
  return std::any_of(l.begin(), l.end(), [&](const mg::net::NamedFd& f) { return f.fd == fd; });
}

// One HTTP exchange on a new connection: the status line, "" when nobody answered within 2 s.
std::string ping(std::uint16_t port) {
  mg::asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(mg::asio::ip::make_address("127.0.0.1"), port));
  timeval two{2, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &two, sizeof two);
  const std::string request = "GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  mg::asio::write(s, mg::asio::buffer(request));
  char buf[64] = {};
  const auto n = ::recv(s.native_handle(), buf, sizeof buf - 1, 0);
  if (n <= 0) return "";
  const std::string got(buf, static_cast<std::size_t>(n));
  return got.substr(0, got.find("\r\n"));
}

TEST(InheritedListeners, MoreSocketsThanWorkersAreAllServed) {
  const int first = reuseport_listener("127.0.0.1", 0);
  const auto port = port_of(first);
  const int second = reuseport_listener("127.0.0.1", port);
  const int third = reuseport_listener("127.0.0.1", port);
  mg::net::InheritedListeners inherited({{first, "web"}, {second, "web"}, {third, "web"}});

  mg::runtime::ServerRegistry registry;
  mg::proxy::Gateway gw(snapshot(registry), registry, 2);
  gw.bind(&inherited);
  EXPECT_TRUE(inherited.empty());
  // Two rounds over two workers: the three inherited sockets and one bound anew, all on the port.
  ASSERT_EQ(gw.listeners().size(), 4u);
  for (int fd : {first, second, third}) EXPECT_TRUE(handed(gw, fd)) << fd;
  for (const auto& l : gw.listeners()) EXPECT_EQ(port_of(l.fd), port);
  ASSERT_EQ(gw.bound().size(), 1u);
  EXPECT_EQ(gw.bound().front().second.port(), port);

  // The kernel spreads connections over all four sockets: each one is accepted and answered.
  gw.start();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(ping(port), "HTTP/1.1 200 OK") << "connection " << i;
  gw.shutdown(std::chrono::milliseconds(0));
  gw.join();
}

TEST(InheritedListeners, FewerSocketsThanWorkersAndOtherAddressesAreLeftAlone) {
  const int web = reuseport_listener("127.0.0.1", 0);
  const int elsewhere = reuseport_listener("127.0.0.2", 0);
  const auto port = port_of(web);
  mg::net::InheritedListeners inherited({{elsewhere, "web"}, {web, "web"}});

  mg::runtime::ServerRegistry registry;
  mg::proxy::Gateway gw(snapshot(registry), registry, 2);
  gw.bind(&inherited);
  ASSERT_EQ(gw.listeners().size(), 2u);
  EXPECT_TRUE(handed(gw, web));
  EXPECT_FALSE(handed(gw, elsewhere));
  for (const auto& l : gw.listeners()) EXPECT_EQ(port_of(l.fd), port);
  EXPECT_FALSE(inherited.empty());  // 127.0.0.2 is not this entry point's address
  inherited.close_rest();
  EXPECT_FALSE(mg::net::listening_endpoint(elsewhere));
}

}  // namespace
