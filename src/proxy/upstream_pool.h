// Per-worker keep-alive connections to upstream servers.
//
// Owned by one worker thread and touched only by it: no locks. A connection goes back to the pool
// only after a complete response on a keep-alive exchange; before reuse it is probed with a
// non-blocking peek so a connection the server closed while idle is dropped instead of failing a
// request.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "balancing/server_state.h"
#include "proxy/asio.h"

namespace modelgate::proxy {

struct UpstreamConnection {
  explicit UpstreamConnection(asio::any_io_executor ex) : stream(ex) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::shared_ptr<balancing::ServerState> server;  // keeps the pool key alive
  bool reused = false;
};

class UpstreamPool {
 public:
  explicit UpstreamPool(asio::any_io_executor ex, std::size_t max_idle_per_server = 256)
      : ex_(ex), max_idle_(max_idle_per_server) {}

  // An idle connection to `server`, or a new one. Error: the connect failed or timed out.
  // Reusing a connection touches no shared reference count: only a new connection keeps a
  // reference to the server.
  awaitable<std::tuple<beast::error_code, std::unique_ptr<UpstreamConnection>>> acquire(
      balancing::ServerState& server, std::chrono::milliseconds connect_timeout);

  // A connection whose last exchange ended cleanly with keep-alive.
  void release(std::unique_ptr<UpstreamConnection> conn);

  // Closes idle connections of servers for which `keep` returns false.
  template <class Pred>
  void prune(Pred keep) {
    std::erase_if(idle_, [&](const auto& kv) { return !keep(kv.first); });
  }

  std::size_t idle_count() const;

 private:
  asio::any_io_executor ex_;
  std::size_t max_idle_;
  std::unordered_map<const balancing::ServerState*, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace modelgate::proxy
