// The gateway: owns the workers, the current snapshot and the lifecycle (start, reload, drain).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "net/listen_fds.h"
#include "net/tls_store.h"
#include "runtime/snapshot.h"
#include "proxy/worker.h"

namespace modelgate::proxy {

class Gateway {
 public:
  // `registry` must be the one `initial` was built with, and outlive the gateway.
  Gateway(std::shared_ptr<const runtime::Snapshot> initial, runtime::ServerRegistry& registry, unsigned workers);
  ~Gateway();

  // Binds every entry point on every worker, taking the sockets of `inherited` where it has them
  // (a binary upgrade, net/listen_fds.h). Throws std::runtime_error
  // with a message that names the entry point and address when a bind fails.
  void bind(net::InheritedListeners* inherited = nullptr);
  void start();
  // Graceful: stop accepting, let running requests finish up to `drain`, then stop the loops.
  void shutdown(std::chrono::milliseconds drain);
  void join();

  void swap(std::shared_ptr<const runtime::Snapshot> next);
  std::shared_ptr<const runtime::Snapshot> current() const;
  std::uint64_t generation() const { return generation_.load(std::memory_order_acquire); }

  // Addresses actually bound, "name host:port", after bind().
  const std::vector<std::pair<std::string, tcp::endpoint>>& bound() const { return bound_; }

  // Every worker's listening socket, named by entry point: what a binary upgrade hands over.
  const std::vector<net::NamedFd>& listeners() const { return listeners_; }

  runtime::ServerRegistry& registry() { return registry_; }
  // The entry points' certificates (set and refreshed by the control plane).
  net::TlsStore& tls() { return tls_; }
  Worker& worker(std::size_t i) { return *workers_.at(i); }
  // The worker that serves a connection `acceptor` accepted (accept_balance.h). Any worker's thread.
  Worker& home_for_connection(const Worker& acceptor);
  // A slot of the service whose counters are `key` was released on worker `from`, which has no
  // waiter for it: a wake is posted to each other worker that has waiters.
  void wake_slot_waiters(const void* key, unsigned from);
  // Observability sinks for every worker; call before start().
  void attach(observability::Metrics* metrics, observability::AccessLog* access_log) {
    for (auto& w : workers_) {
      w->metrics = metrics;
      w->access_log = access_log;
    }
  }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mutex_;  // guards snapshot_ (control plane only)
  std::shared_ptr<const runtime::Snapshot> snapshot_;
  std::atomic<std::uint64_t> generation_{1};
  std::atomic<bool> draining_{false};
  runtime::ServerRegistry& registry_;
  net::TlsStore tls_;  // before workers_: they keep a view of it
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::pair<std::string, tcp::endpoint>> bound_;
  std::vector<net::NamedFd> listeners_;

  static tcp::acceptor open_listener(asio::io_context& io, const config::EntryPoint& ep,
                                     const tcp::endpoint& endpoint);
};

}  // namespace modelgate::proxy
