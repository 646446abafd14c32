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
#include "net/deadline.h"
#include "net/io.h"
#include "net/tls_store.h"
#include "runtime/snapshot.h"
#include "proxy/slot_queue.h"
#include "runtime/worker_pools.h"
#include "proxy/upstream_pool.h"

namespace modelgate::observability {
class AccessLog;
class Metrics;
}  // namespace modelgate::observability

namespace modelgate::proxy {

class Gateway;
struct ExchangeState;

// A worker's per-snapshot state: the snapshot and this thread's pools for its services (kept
// across snapshots while a service's definition is: runtime/worker_pools.h).
struct WorkerRoutes {
  std::shared_ptr<const runtime::Snapshot> snapshot;
  runtime::WorkerPools::Pools pools;  // parallel to snapshot->services
  runtime::WorkerPools::Pools tcp_pools;  // parallel to snapshot->tcp_services
};

class Worker {
 public:
  Worker(Gateway& gateway, unsigned index);
  ~Worker();

  asio::io_context& io() { return io_; }
  unsigned index() const { return index_; }
  UpstreamPool& upstreams() { return upstreams_; }
  net::DeadlineWheel& deadlines() { return deadlines_; }
  SlotQueue& slot_queue() { return slot_queue_; }
  // The certificates for a new TLS connection (null when none is configured).
  const std::shared_ptr<const net::ServerTls>& server_tls() { return tls_view_.current(); }
  // A slot of a server under maxConnections of the service whose counters are `counters` was
  // released on this worker: the waiter that goes first here, or else on another worker, is
  // woken; every other release goes to the other workers while some of theirs wait too.
  void slot_released(const runtime::ServiceCounters& counters);
  // A buffer of an exchange state larger than this after a request is freed, not kept.
  static constexpr std::size_t kExchangeKeep = 64 * 1024;
  // Per-request state, lent to one exchange at a time (kept for reuse: no allocation per request).
  std::unique_ptr<ExchangeState> take_exchange();
  void give_back(std::unique_ptr<ExchangeState> state);
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
  // Client connections this worker serves. Counted by the accept loop that chose this worker
  // (accept_balance.h), uncounted by this worker when the session ends.
  std::atomic<int> connections{0};
  // False once its listeners are closed: other workers then hand it no connections either.
  bool accepting() const { return accepting_.load(std::memory_order_relaxed); }

  // Observability sinks; set before start(), may be null.
  observability::Metrics* metrics = nullptr;
  observability::AccessLog* access_log = nullptr;  // requests being answered right now

 private:
  net::Task<void> accept_loop(std::size_t listener);
  // Serves a connection accepted on listener `listener` (the same index on every worker).
  void serve(net::Socket socket, std::size_t listener);
  // From another worker's thread: serves the connection `fd` it accepted (already counted here).
  void adopt(int fd, tcp protocol, std::size_t listener);
  // Once a second: closes expired pooled connections and gives back memory kept since a burst.
  net::Task<void> housekeeping();
  void run_loop();  // the thread's body: io_.run(), restarted when a handler throws
  void close_listeners();
  void give_memory_back();
  static constexpr std::chrono::seconds kHousekeepingTick{1};

  Gateway& gateway_;
  unsigned index_;
  std::vector<std::unique_ptr<ExchangeState>> free_exchanges_;
  std::size_t lent_ = 0;       // exchange states in use now
  std::size_t peak_lent_ = 0;  // ... at most since the last housekeeping tick
  bool gave_back_ = false;     // memory was freed since the last tick: worth a malloc_trim
  // One thread runs this loop and only it touches the worker's sockets: the reactor needs no
  // locking (other threads only post to it, which stays safe).
  asio::io_context io_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  net::DeadlineWheel deadlines_;  // after io_: its timer goes before the loop does
  UpstreamPool upstreams_;
  SlotQueue slot_queue_;
  std::vector<std::unique_ptr<net::Acceptor>> acceptors_;
  std::vector<std::string> acceptor_names_;
  std::atomic<bool> accepting_{true};
  std::shared_ptr<WorkerRoutes> routes_;
  net::TlsStoreView tls_view_;
  runtime::WorkerPools pools_;
  runtime::WorkerPools tcp_pools_;
  std::uint64_t routes_generation_ = 0;
  std::thread thread_;
};

}  // namespace modelgate::proxy
