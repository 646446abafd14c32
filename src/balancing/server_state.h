// The live state of one upstream server, shared by every worker thread.
//
// A ServerState outlives config reloads for as long as its service keeps the same URL, so health,
// counters and pooled connections survive an edit to an unrelated part of the file. Everything a
// worker changes on the hot path is a relaxed atomic: no locks, no cross-thread waits.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "config/config.h"

namespace modelgate::balancing {

struct ServerState : std::enable_shared_from_this<ServerState> {
  explicit ServerState(const config::Server& s) : spec(s), host_header(s.hostHeader()) {}

  const config::Server spec;      // url, host, port, weight, ... as configured
  const std::string host_header;  // "host:port" for the Host header when not passed through

  std::atomic<int> inflight{0};     // requests sent and not finished, across all workers
  std::atomic<bool> healthy{true};  // active health check verdict
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> failures{0};
};

}  // namespace modelgate::balancing
