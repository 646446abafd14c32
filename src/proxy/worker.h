// One worker thread: its own event loop, its own listeners (SO_REUSEPORT), its own balancers and
// upstream connections. Workers share nothing on the hot path but the immutable snapshot and the
// servers' atomic counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "balancing/pool.h"
#include "proxy/asio.h"
#include "proxy/buffer_pool.h"
#include "proxy/snapshot.h"
#include "proxy/upstream_pool.h"

namespace modelgate::observability {
class AccessLog;
class Metrics;
}  // namespace modelgate::observability

namespace modelgate::proxy {

class Gateway;

// A worker's per-snapshot state: balancers built from the snapshot for this thread only.
struct WorkerRoutes {
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<balancing::Pool> pools;  // parallel to snapshot->services
};

class Worker {
 public:
  Worker(Gateway& gateway, unsigned index);
  ~Worker();

  asio::io_context& io() { return io_; }
  unsigned index() const { return index_; }
  UpstreamPool& upstreams() { return upstreams_; }
  BufferPool& buffers() { return buffers_; }
  Gateway& gateway() { return gateway_; }
  bool gateway_draining() const;

  // The routes of the newest snapshot; cheap when nothing changed (one atomic load).
  const std::shared_ptr<WorkerRoutes>& routes();

  void add_listener(tcp::acceptor acceptor, std::string entry_point);
  void start();
  // Stops accepting; sessions end after their current request.
  void stop_accepting();
  void join();
  void stop_now() { io_.stop(); }

  std::atomic<int> active_requests{0};

  // Observability sinks; set before start(), may be null.
  observability::Metrics* metrics = nullptr;
  observability::AccessLog* access_log = nullptr;  // requests being answered right now

 private:
  awaitable<void> accept_loop(tcp::acceptor& acceptor, std::string entry_point);

  Gateway& gateway_;
  unsigned index_;
  asio::io_context io_{1};
  UpstreamPool upstreams_;
  BufferPool buffers_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  std::vector<std::string> acceptor_names_;
  std::shared_ptr<WorkerRoutes> routes_;
  std::uint64_t routes_generation_ = 0;
  std::thread thread_;
};

}  // namespace modelgate::proxy
