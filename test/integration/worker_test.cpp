// Workers in-process (one worker, so every connection lands on it, except where two are named).
// - Connections are spread evenly over two workers: SO_REUSEPORT hashes them (64 connections
//   often split 35/29 or 37/27), so the worker that accepts one hands it to another serving fewer.
// - Its event loop fails: a handler that throws is posted to it. The loop is run again and keeps
//   serving; one that keeps failing closes its listener, so that SO_REUSEPORT sends connections
//   elsewhere rather than into a queue nobody reads. A coroutine that ends with an exception is
//   logged, not lost.
// - Memory after a large request: an exchange state whose buffers grew is handed out again with
//   small ones (bench/memory_after_burst.sh measures the resident memory).
// - The listening sockets of a binary upgrade (net/listen_fds.h): every inherited socket of an
//   entry point is served even when the old process ran more workers (a socket nobody accepts on
//   would hold the connections the kernel queues on it); one of another address is left alone.
#include "proxy/worker.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "config/loader.h"
#include "net/asio.h"
#include "net/listen_fds.h"
#include "proxy/accept_balance.h"
#include "proxy/gateway.h"
#include "net/log_failure.h"
#include "proxy/session_impl.h"
#include "runtime/snapshot.h"
#include "support/http_client.h"

namespace mt = modelgate::test;
namespace mg = modelgate;
using namespace std::chrono_literals;

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
  auto built = mg::runtime::build_snapshot(*loaded.config, registry);
  return std::get<std::shared_ptr<const mg::runtime::Snapshot>>(built);
}

// Everything logged while it lives, through the default logger.
class CapturedLog {
 public:
  CapturedLog()
      : sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)), previous_(spdlog::default_logger()) {
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const {
    std::string out;
    for (const auto& line : sink_->last_formatted()) out += line;
    return out;
  }

 private:
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

int ping(std::uint16_t port) {
  mt::HttpClient client("127.0.0.1", port, 2s);
  return client.get("/ping").status;
}

// The gateway in this process with `workers` workers, started; `port` is its entry point's.
struct StartedGateway {
  mg::runtime::ServerRegistry registry;
  mg::proxy::Gateway gw;
  std::uint16_t port = 0;
  explicit StartedGateway(unsigned workers = 1) : gw(snapshot(registry), registry, workers) {
    gw.bind();
    gw.start();
    port = gw.bound().front().second.port();
  }
  ~StartedGateway() { gw.shutdown(std::chrono::milliseconds(0)); }
};
using OneWorkerGateway = StartedGateway;

void throw_on(mg::proxy::Worker& worker) {
  mg::asio::post(worker.io(), [] { throw std::runtime_error("injected failure"); });
}

}  // namespace

TEST(WorkerFailure, LoopThatFailsIsRunAgainAndKeepsServing) {
  CapturedLog log;
  OneWorkerGateway g;
  ASSERT_EQ(ping(g.port), 200);
  throw_on(g.gw.worker(0));
  EXPECT_EQ(ping(g.port), 200) << "nobody serves the listener of a worker whose loop failed";
  EXPECT_NE(log.text().find("worker 0: event loop failed: injected failure"), std::string::npos)
      << log.text();
}

TEST(WorkerFailure, LoopThatKeepsFailingClosesItsListener) {
  CapturedLog log;
  OneWorkerGateway g;
  const auto port = g.port;
  for (int i = 0; i < 5; ++i) throw_on(g.gw.worker(0));
  // The listener closes: a connection is refused at once instead of waiting in its queue.
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  int status = ping(port);
  while (status != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
    status = ping(port);
  }
  EXPECT_EQ(status, 0) << "the listener stayed open";
  EXPECT_NE(log.text().find("stops accepting connections"), std::string::npos) << log.text();
}

TEST(WorkerFailure, ExceptionEndingADetachedCoroutineIsLogged) {
  CapturedLog log;
  mg::asio::io_context io;
  auto failing = []() -> mg::asio::awaitable<void> {
    throw std::runtime_error("session broke");
    co_return;
  };
  mg::asio::co_spawn(io, failing(), mg::net::LogFailure{"session", 3});
  io.run();
  EXPECT_NE(log.text().find("worker 3: session failed: session broke"), std::string::npos) << log.text();
}

TEST(WorkerMemory, ExchangeBuffersDoNotKeepALargeRequestsSize) {
  mg::runtime::ServerRegistry registry;
  mg::proxy::Gateway gw(snapshot(registry), registry, 1);
  auto& worker = gw.worker(0);  // not started: this thread may use it
  constexpr std::size_t kLarge = 8 * 1024 * 1024;

  auto state = worker.take_exchange();
  std::string small_request(2000, 's');
  state->body = small_request;
  const auto small_capacity = state->body.capacity();
  worker.give_back(std::move(state));
  state = worker.take_exchange();
  EXPECT_EQ(state->body.capacity(), small_capacity) << "an ordinary request's buffer is kept for reuse";

  state->body.assign(kLarge, 'x');
  state->head.assign(256 * 1024, 'h');
  state->body_in.prepare(kLarge);
  worker.give_back(std::move(state));
  state = worker.take_exchange();
  EXPECT_LE(state->body.capacity(), mg::proxy::Worker::kExchangeKeep);
  EXPECT_LE(state->head.capacity(), mg::proxy::Worker::kExchangeKeep);
  EXPECT_LE(state->body_in.capacity(), mg::proxy::Worker::kExchangeKeep);
  worker.give_back(std::move(state));
}

// 64 keep-alive connections, as the benchmark's client opens, five times over: after each batch
// the two workers serve within one connection of an even share (kAcceptSlack), whatever the
// kernel's hash of the connections' ports chose.
TEST(WorkerAccept, KeepAliveConnectionsAreSpreadEvenlyOverWorkers) {
  StartedGateway g(2);
  std::vector<std::unique_ptr<mt::HttpClient>> clients;
  for (int batch = 1; batch <= 5; ++batch) {
    for (int i = 0; i < 64; ++i) {
      clients.push_back(std::make_unique<mt::HttpClient>("127.0.0.1", g.port, 5s));
      ASSERT_EQ(clients.back()->get("/ping").status, 200);
    }
    const int a = g.gw.worker(0).connections.load();
    const int b = g.gw.worker(1).connections.load();
    EXPECT_EQ(a + b, 64 * batch);
    EXPECT_LE(std::abs(a - b), mg::proxy::kAcceptSlack + 1) << "batch " << batch << ": " << a << " and " << b;
  }
}

// A worker whose listeners are closed (its loop kept failing) is given no connections.
TEST(WorkerAccept, NoConnectionIsHandedToAWorkerThatStoppedAccepting) {
  CapturedLog log;
  StartedGateway g(2);
  for (int i = 0; i < 5; ++i) throw_on(g.gw.worker(1));
  const auto deadline = std::chrono::steady_clock::now() + 3s;
  while (g.gw.worker(1).accepting() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_FALSE(g.gw.worker(1).accepting());
  std::vector<std::unique_ptr<mt::HttpClient>> clients;
  for (int i = 0; i < 32; ++i) {
    clients.push_back(std::make_unique<mt::HttpClient>("127.0.0.1", g.port, 5s));
    ASSERT_EQ(clients.back()->get("/ping").status, 200) << i;
  }
  EXPECT_EQ(g.gw.worker(0).connections.load(), 32);
  EXPECT_EQ(g.gw.worker(1).connections.load(), 0);
}

namespace {

// A listening SO_REUSEPORT socket on `host`:`port` (0: any free port), as a gateway worker has.
int reuseport_listener(const char* host, std::uint16_t port) {
  mg::asio::io_context io;
  mg::tcp::acceptor a(io);
  const mg::tcp::endpoint at(mg::asio::ip::make_address(host), port);
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

}  // namespace

TEST(WorkerInheritedListeners, MoreSocketsThanWorkersAreAllServed) {
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

  // The kernel spreads new connections over all four sockets: each one is accepted and answered.
  gw.start();
  for (int i = 0; i < 40; ++i) ASSERT_EQ(ping(port), 200) << "connection " << i;
  gw.shutdown(std::chrono::milliseconds(0));
  gw.join();
}

TEST(WorkerInheritedListeners, FewerSocketsThanWorkersAndOtherAddressesAreLeftAlone) {
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
