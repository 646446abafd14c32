// The live state of one upstream server, shared by every worker thread.
//
// A ServerState outlives config reloads for as long as its service keeps the same URL, so health,
// counters, pooled connections and what the LLM strategies learned (llm_state.h) survive an edit
// to an unrelated part of the file and every model discovery change. The changes that decide
// whether a server may be picked (healthy, ejected_until_ns, draining) are Watched: each bumps
// membership_epoch(), so the pools recompute their candidate sets only then. Everything a
// worker changes on the hot path is a relaxed atomic: no locks, no cross-thread waits. The
// control-plane fields at the end (models, last error) are written by the health checker and the
// model discovery, and read by the admin API, under their own small mutex, never on the hot path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "balancing/llm_state.h"
#include "config/config.h"

namespace modelgate::balancing {

// Health, ejection and draining decide which servers a pool may pick. Pools keep their candidate
// sets (pool.h) and recompute them only when one of these changes: a store that changes the value
// bumps this process-wide counter, which a pool reads once per pick (one acquire load). Changes
// are rare (a health verdict, an ejection, an admin drain); a spurious bump costs one recompute.
inline std::atomic<std::uint64_t>& membership_epoch() {
  static std::atomic<std::uint64_t> epoch{1};
  return epoch;
}

// An atomic whose changes are membership changes: reads and writes as std::atomic<T> (the health
// checker, outlier detection and admin API write it unchanged), and a store of a different value
// bumps membership_epoch() after it (release), so a pool that sees the new epoch sees the value.
template <class T>
class Watched {
 public:
  constexpr Watched(T initial) noexcept : value_(initial) {}  // NOLINT: as std::atomic<T>
  Watched(const Watched&) = delete;
  Watched& operator=(const Watched&) = delete;

  T load(std::memory_order order = std::memory_order_seq_cst) const noexcept { return value_.load(order); }
  void store(T value, std::memory_order order = std::memory_order_seq_cst) noexcept {
    if (value_.exchange(value, order) != value) membership_epoch().fetch_add(1, std::memory_order_release);
  }
  Watched& operator=(T value) noexcept {
    store(value);
    return *this;
  }
  operator T() const noexcept { return load(); }  // NOLINT: as std::atomic<T>

 private:
  std::atomic<T> value_;
};

struct ServerState : std::enable_shared_from_this<ServerState> {
  explicit ServerState(const config::Server& s) : spec(s), host_header(s.hostHeader()) {}

  const config::Server spec;      // url, host, port, weight, ... as configured
  const std::string host_header;  // "host:port" for the Host header when not passed through

  // Hot path: written by workers.
  std::atomic<int> inflight{0};  // requests sent and not finished, across all workers
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> failures{0};

  // Active health checks: the checker's verdict (true until a check says otherwise).
  Watched<bool> healthy{true};
  // Passive health (outlier detection): ejected while now < ejected_until (steady clock, ns).
  Watched<std::int64_t> ejected_until_ns{0};
  std::atomic<int> consecutive_failures{0};
  std::atomic<int> ejections{0};  // recent ejections: the next one lasts baseEjection × 2^this
  // Set by the admin API: no new requests, running ones finish.
  Watched<bool> draining{false};

  // A server of a TCP service (docs/tcp.md): `inflight` counts its open connections and
  // `requests` every connection it was given; these count the bytes relayed and failed connects.
  struct Relay {
    std::atomic<std::uint64_t> bytes_in{0};   // from clients, sent to the server
    std::atomic<std::uint64_t> bytes_out{0};  // from the server, sent to clients
    std::atomic<std::uint64_t> connect_failures{0};
  } tcp;

  // Learned by the LLM-aware strategies (cache_aware, least_load), and the scraped load.
  LlmState llm;

  bool ejected(std::int64_t now_ns) const {
    return ejected_until_ns.load(std::memory_order_relaxed) > now_ns;
  }

  // Control plane.
  struct Info {
    std::vector<std::string> models;  // from model discovery; empty until the first poll
    bool models_known = false;
    std::string last_error;           // last health/proxy error, for the admin API
    std::chrono::system_clock::time_point last_error_at{};
  };
  Info info() const {
    std::lock_guard lock(info_mutex_);
    return info_;
  }
  template <class F>
  void update_info(F&& f) {
    std::lock_guard lock(info_mutex_);
    f(info_);
  }

 private:
  mutable std::mutex info_mutex_;
  Info info_;
};

inline std::int64_t steady_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace modelgate::balancing
