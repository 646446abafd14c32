// The per-worker pool of idle upstream connections, on a manual clock: a connection is reused
// only before its idle time runs out, the warmest one first; sweep() closes the expired ones and
// those the server closed or wrote to; each server keeps at most max_idle_per_server. Real
// connected sockets on loopback (port 0), since sweep() peeks at them; no sleeping.
#include "proxy/upstream_pool.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "net/clock.h"

namespace mb = modelgate::balancing;
namespace mn = modelgate::net;
namespace mp = modelgate::proxy;
using namespace std::chrono_literals;

namespace {

class UpstreamPool : public ::testing::Test {
 protected:
  UpstreamPool() {
    acceptor.open(boost::asio::ip::tcp::v4());
    acceptor.bind({boost::asio::ip::make_address("127.0.0.1"), 0});
    acceptor.listen();
    modelgate::config::Server spec;
    spec.url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    spec.host = "127.0.0.1";
    spec.port = acceptor.local_endpoint().port();
    server = std::make_shared<mb::ServerState>(spec);
  }

  // A connection of the pool to the listener; the server's end is kept in `peers`.
  std::unique_ptr<mp::UpstreamConnection> connected() {
    auto conn = pool.make(*server);
    conn->socket.socket().connect(acceptor.local_endpoint());
    peers.push_back(acceptor.accept());
    return conn;
  }

  mn::SteadyTime now() const { return clock.now(); }

  boost::asio::io_context io;
  mn::Acceptor acceptor{io.get_executor()};
  std::vector<mn::Socket> peers;
  std::shared_ptr<mb::ServerState> server;
  mn::ManualClock clock;
  mp::UpstreamPool pool{io.get_executor(), 4};
};

}  // namespace

TEST_F(UpstreamPool, ReusedBeforeItsIdleTimeRunsOutAndNotAfter) {
  auto conn = connected();
  auto* raw = conn.get();
  pool.release(std::move(conn), 4s, now());
  clock.advance(3999ms);
  auto again = pool.take_idle(*server, now());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again.get(), raw);
  EXPECT_EQ(pool.idle_count(), 0u);

  pool.release(std::move(again), 4s, now());
  clock.advance(4s);  // exactly its idle time: the server may have closed it by now
  EXPECT_EQ(pool.take_idle(*server, now()), nullptr);
  EXPECT_EQ(pool.idle_count(), 0u) << "an expired connection stays pooled";
}

TEST_F(UpstreamPool, TheWarmestConnectionIsReusedFirst) {
  auto a = connected(), b = connected();
  auto* newer = b.get();
  pool.release(std::move(a), 4s, now());
  clock.advance(1s);
  pool.release(std::move(b), 4s, now());
  EXPECT_EQ(pool.take_idle(*server, now()).get(), newer);
  // The older one is still usable until its own expiry.
  clock.advance(2500ms);
  EXPECT_NE(pool.take_idle(*server, now()), nullptr);
}

TEST_F(UpstreamPool, ZeroIdleTimeKeepsNothingAndTheCapHolds) {
  pool.release(connected(), 0s, now());
  EXPECT_EQ(pool.idle_count(), 0u);
  for (int i = 0; i < 6; ++i) pool.release(connected(), 4s, now());
  EXPECT_EQ(pool.idle_count(), 4u);
}

TEST_F(UpstreamPool, SweepClosesExpiredAndServerClosedConnections) {
  pool.release(connected(), 2s, now());   // peers[0]: expires first
  pool.release(connected(), 10s, now());  // peers[1]: closed by the server below
  pool.release(connected(), 10s, now());  // peers[2]: the server wrote to it unasked
  pool.release(connected(), 10s, now());  // peers[3]: stays
  peers[1].close();
  boost::asio::write(peers[2], boost::asio::buffer("HTTP/1.1 408 Request Timeout\r\n\r\n", 32));
  clock.advance(1s);
  pool.sweep(now());
  EXPECT_EQ(pool.idle_count(), 2u) << "kept a connection the server closed or wrote to";
  clock.advance(1s);
  pool.sweep(now());
  EXPECT_EQ(pool.idle_count(), 1u) << "kept an expired connection";
  clock.advance(8s);
  pool.sweep(now());
  EXPECT_EQ(pool.idle_count(), 0u);
}
