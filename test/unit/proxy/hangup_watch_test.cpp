// The hang-up watch over a real loopback connection (port 0): a client that leaves closes the
// upstream connection, early bytes of a next request are kept, and a watch that is gone (its
// session destroyed) touches nothing when its read completes afterwards.
#include "proxy/hangup_watch.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "net/io.h"
#include "net/read_buffer.h"

namespace modelgate::proxy {
namespace {

using namespace std::chrono_literals;

// The far end of a new loopback connection is `far`; its near end (accepted) is returned.
net::Socket accept_from(asio::io_context& io, net::Socket& far) {
  net::Acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  far.connect(acceptor.local_endpoint());
  net::Socket near(io.get_executor());
  acceptor.accept(near);
  return near;
}

// Two connected loopback sockets on the worker's executor type; the near one a stream, as a
// session's connections are.
struct Pair {
  explicit Pair(asio::io_context& io) : far(io.get_executor()), near(accept_from(io, far)) {}
  net::Socket far;
  net::Stream near;
};

// Runs the loop until `done` or a second has passed.
template <class Done>
void run_until(asio::io_context& io, Done done) {
  const auto until = std::chrono::steady_clock::now() + 1s;
  while (!done() && std::chrono::steady_clock::now() < until) {
    io.restart();
    io.run_for(5ms);
  }
}

// A client connection with its input buffer, as a session has them.
struct HangupWatchTest : ::testing::Test {
  asio::io_context io;
  Pair client{io};
  net::ReadBuffer in{64};
  HangupWatchTest() { in.prepare(64); }
};

net::Task<void> stop_then(HangupWatch& watch, net::Stream& client, bool& stopped) {
  co_await watch.stop(client);
  stopped = true;
}

TEST_F(HangupWatchTest, ClientThatLeavesClosesTheUpstream) {
  Pair upstream{io};
  HangupWatch watch;
  watch.set_upstream(&upstream.near);
  watch.start(client.near, in, false);
  EXPECT_EQ(watch.state(), HangupWatch::State::reading);
  client.far.close();
  run_until(io, [&] { return watch.client_gone(); });
  EXPECT_TRUE(watch.client_gone());
  EXPECT_FALSE(upstream.near.is_open()) << "the server would go on generating for nobody";
}

TEST_F(HangupWatchTest, EarlyBytesOfTheNextRequestAreKept) {
  HangupWatch watch;
  watch.start(client.near, in, false);
  asio::write(client.far, asio::buffer(std::string_view("GET /next")));
  run_until(io, [&] { return watch.state() == HangupWatch::State::off; });
  EXPECT_EQ(in.data(), "GET /next");
}

// The session is destroyed (an exception unwound it) while the watch's read is pending on a
// socket that stays open; the client then leaves. The handler must not act for the dead session:
// closing an upstream socket that now belongs to someone else, or committing into a freed buffer.
TEST(HangupWatchLifetime, AWatchThatIsGoneTouchesNothing) {
  asio::io_context io;
  Pair client{io};
  Pair upstream{io};
  auto in = std::make_unique<net::ReadBuffer>(64);
  in->prepare(64);
  auto watch = std::make_unique<HangupWatch>();
  watch->set_upstream(&upstream.near);
  watch->start(client.near, *in, false);
  watch.reset();
  in.reset();
  client.far.close();
  io.run_for(100ms);  // the read completes with end-of-file meanwhile
  EXPECT_TRUE(upstream.near.is_open()) << "the handler of a destroyed watch closed a socket";
}

TEST_F(HangupWatchTest, StopWaitsForTheCancelledRead) {
  HangupWatch watch;
  watch.start(client.near, in, false);
  bool stopped = false;
  asio::co_spawn(io, stop_then(watch, client.near, stopped), asio::detached);
  run_until(io, [&] { return stopped; });
  EXPECT_TRUE(stopped);
  EXPECT_EQ(watch.state(), HangupWatch::State::off);
  EXPECT_TRUE(client.near.is_open()) << "stop cancels the read, it does not close the connection";
}

}  // namespace
}  // namespace modelgate::proxy
