// Per-worker keep-alive connections to upstream servers.
//
// Owned by one worker thread and touched only by it: no locks. A connection goes back to the pool
// only after a complete response on a keep-alive exchange. It is not probed before reuse (that
// costs a system call per request): a server that closed it while idle shows as end-of-file
// before any response byte, and the request is then sent again on a fresh connection.
#pragma once

#include <memory>
#include <unordered_map>
#include <vector>

#include "balancing/server_state.h"
#include "proxy/io.h"
#include "proxy/read_buffer.h"

namespace modelgate::proxy {

struct UpstreamConnection {
  static constexpr std::size_t kBuffer = 16 * 1024;
  explicit UpstreamConnection(Executor ex) : socket(ex) {}
  Socket socket;
  ReadBuffer buffer{kBuffer};
  std::shared_ptr<balancing::ServerState> server;  // keeps the pool key alive
};

class UpstreamPool {
 public:
  explicit UpstreamPool(Executor ex, std::size_t max_idle_per_server = 256) : ex_(ex), max_idle_(max_idle_per_server) {}

  // An idle connection to `server`, or null. Reusing one touches no shared reference count.
  std::unique_ptr<UpstreamConnection> take_idle(balancing::ServerState& server);
  // A new, unconnected connection to `server`.
  std::unique_ptr<UpstreamConnection> make(balancing::ServerState& server);

  // A connection whose last exchange ended cleanly with keep-alive.
  void release(std::unique_ptr<UpstreamConnection> conn);

  // Closes idle connections of servers for which `keep` returns false.
  template <class Pred>
  void prune(Pred keep) {
    std::erase_if(idle_, [&](const auto& kv) { return !keep(kv.first); });
  }

  std::size_t idle_count() const;

 private:
  Executor ex_;
  std::size_t max_idle_;
  std::unordered_map<const balancing::ServerState*, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace modelgate::proxy
