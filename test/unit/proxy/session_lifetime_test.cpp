// Sessions, the hang-up watch and the maxConnections queue destroyed with their worker while
// their callbacks are armed: the gateway in this process with one worker, clients and a silent
// server on loopback (port 0). Meant above all for the sanitized build (cmake --preset asan),
// where a touch of freed memory fails the test.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "config/loader.h"
#include "net/asio.h"
#include "proxy/gateway.h"
#include "runtime/snapshot.h"

namespace modelgate::proxy {
namespace {

using namespace std::chrono_literals;

// One entry point, every request to the server at 127.0.0.1:`port`, which takes one at a time.
std::shared_ptr<const runtime::Snapshot> one_slot_snapshot(runtime::ServerRegistry& registry, std::uint16_t port) {
  const std::string yaml =
      "entryPoints: {web: {address: \"127.0.0.1:0\"}}\n"
      "http: {routers: {all: {rule: \"PathPrefix(`/`)\", service: pool}}, services: {pool: {loadBalancer: "
      "{servers: [{url: \"http://127.0.0.1:" +
      std::to_string(port) + "\", maxConnections: 1}]}}}}\n";
  auto loaded = config::load_text(yaml, "test.yaml");
  if (!loaded.config) throw std::runtime_error("config does not load");
  return std::get<std::shared_ptr<const runtime::Snapshot>>(runtime::build_snapshot(*loaded.config, registry));
}

void send(tcp::socket& socket, std::string_view bytes) { asio::write(socket, asio::buffer(bytes)); }

// One session waits for its head (its readHeader deadline filed in the wheel), one for a server
// that never answers (its responseHeader deadline filed, its hang-up watch's read pending), one
// for that server's only slot (in the maxConnections queue). Then the gateway goes.
TEST(SessionLifetime, DestroyedWithDeadlinesArmedAWatchPendingAndARequestQueued) {
  asio::io_context io;
  tcp::acceptor silent(io, {asio::ip::make_address("127.0.0.1"), 0});  // accepts, never answers
  runtime::ServerRegistry registry;
  auto gw = std::make_unique<Gateway>(one_slot_snapshot(registry, silent.local_endpoint().port()), registry, 1);
  gw->bind();
  gw->start();
  const tcp::endpoint gateway{asio::ip::make_address("127.0.0.1"), gw->bound().front().second.port()};

  tcp::socket waiting_for_head(io), waiting_for_server(io), waiting_for_slot(io);
  waiting_for_head.connect(gateway);
  send(waiting_for_head, "GET / HTTP/1.1\r\nHo");
  waiting_for_server.connect(gateway);
  send(waiting_for_server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  tcp::socket upstream(io);
  silent.accept(upstream);  // the request reached the server and holds its only slot
  waiting_for_slot.connect(gateway);
  send(waiting_for_slot, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  auto& worker = gw->worker(0);
  for (int i = 0; i < 200 && (worker.active_requests.load() < 2 || worker.slot_queue().waiting() < 1); ++i) {
    std::this_thread::sleep_for(5ms);
  }
  std::this_thread::sleep_for(50ms);  // past a tick of the wheel: the hang-up watch is reading
  EXPECT_EQ(worker.active_requests.load(), 2);
  EXPECT_EQ(worker.slot_queue().waiting(), 1u);

  gw->shutdown(0ms);
  gw.reset();  // the worker's loop goes last, with the sessions' frames
}

}  // namespace
}  // namespace modelgate::proxy
