// A worker in-process (one worker, so every connection lands on it).
// - Its event loop fails: a handler that throws is posted to it. The loop is run again and keeps
//   serving; one that keeps failing closes its listener, so that SO_REUSEPORT sends connections
//   elsewhere rather than into a queue nobody reads. A coroutine that ends with an exception is
//   logged, not lost.
// - Memory after a large request: an exchange state whose buffers grew is handed out again with
//   small ones (bench/memory_after_burst.sh measures the resident memory).
#include "proxy/worker.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

#include "config/loader.h"
#include "net/asio.h"
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

// The gateway in this process with one worker, started; `port` is its entry point's.
struct OneWorkerGateway {
  mg::runtime::ServerRegistry registry;
  mg::proxy::Gateway gw{snapshot(registry), registry, 1};
  std::uint16_t port = 0;
  OneWorkerGateway() {
    gw.bind();
    gw.start();
    port = gw.bound().front().second.port();
  }
  ~OneWorkerGateway() { gw.shutdown(std::chrono::milliseconds(0)); }
};

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
