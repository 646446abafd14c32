// Per-worker keep-alive connections to upstream servers.
//
// Owned by one worker thread and touched only by it: no locks. A connection goes back to the pool
// only after a complete response on a keep-alive exchange, with an expiry `idleConnection` ahead
// (default 4 s, below the 5 s after which uvicorn, under vLLM and SGLang, closes an idle
// connection): a connection is reused only before the server's own keep-alive timeout can have
// closed it, as nginx's upstream `keepalive_timeout` and Go's IdleConnTimeout do. take_idle()
// drops expired connections (a time compare on the coarse clock, no system call) and sweep(),
// run once a second by the worker, closes those nobody asked for and those the server closed (a
// non-blocking peek each, off the request path), so none lingers in CLOSE_WAIT. The time is
// passed in (the steady clock, read coarsely), so tests drive expiry with a ManualClock.
//
// It is still not probed before reuse (that costs a system call per request): a server that
// closed it early (a restart) shows as end-of-file before any response byte, and a request whose
// body can be sent again then goes to a fresh connection. A body that cannot be sent again
// (chunked, or larger than what is buffered) never takes a pooled connection: see upstream_exchange.cpp.
#pragma once

#include <chrono>
#include <memory>
#include <unordered_map>
#include <vector>

#include "balancing/server_state.h"
#include "net/clock.h"
#include "net/io.h"
#include "net/read_buffer.h"
#include "net/stream.h"

namespace modelgate::proxy {

struct UpstreamConnection {
  static constexpr std::size_t kBuffer = 16 * 1024;
  explicit UpstreamConnection(net::Executor ex) : socket(ex) {}
  net::Stream socket;  // TLS for an https:// server (made so by Session::connect)
  net::ReadBuffer buffer{kBuffer};
  std::shared_ptr<balancing::ServerState> server;  // keeps the pool key alive
  net::SteadyTime expires{};  // while pooled: unusable from then on
};

class UpstreamPool {
 public:
  using Clock = net::Clock;

  explicit UpstreamPool(net::Executor ex, std::size_t max_idle_per_server = 256) : ex_(ex), max_idle_(max_idle_per_server) {}

  // An idle connection to `server` that has not expired at `now`, or null. Reusing one touches no
  // shared reference count.
  std::unique_ptr<UpstreamConnection> take_idle(balancing::ServerState& server, Clock::time_point now);
  // A new, unconnected connection to `server`.
  std::unique_ptr<UpstreamConnection> make(balancing::ServerState& server);

  // A connection whose last exchange ended cleanly with keep-alive; usable for `idle` from `now`
  // (0: not kept).
  void release(std::unique_ptr<UpstreamConnection> conn, Clock::duration idle, Clock::time_point now);

  // Closes the idle connections that have expired at `now` or that the server closed.
  void sweep(Clock::time_point now);

  // Closes idle connections of servers for which `keep` returns false.
  template <class Pred>
  void prune(Pred keep) {
    std::erase_if(idle_, [&](const auto& kv) { return !keep(kv.first); });
  }

  std::size_t idle_count() const;

 private:
  net::Executor ex_;
  std::size_t max_idle_;
  // Per server, oldest first: the back is the most recently used (the warmest) connection.
  std::unordered_map<const balancing::ServerState*, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace modelgate::proxy
