// The state of the middlewares that count (rateLimit, inFlightReq): per source, lock-free, kept
// across reloads while the middleware's definition is unchanged (MiddlewareStates).
//
// Sources (client addresses, header values, hosts) are hashed to 64 bits and kept in a fixed table
// of slots, probed linearly a few slots from the hash's home. A slot belongs to one source; a
// source that finds no slot of its own takes a free one or one that is idle (a full token bucket,
// no request in flight), so the table never grows and never needs a lock. When every probed slot
// is busy with another source (more than kSlots busy sources at once), the source shares the last
// one: it may then be limited with its neighbour, the trade-off of a fixed table.
//
// rateLimit is GCRA (the generic cell rate algorithm), which is a token bucket kept as one number
// per source: the theoretical arrival time (TAT) of the next request at the average rate. A request
// at `now` is admitted when TAT - now <= (burst - 1) * interval, and moves TAT to
// max(TAT, now) + interval: `burst` requests at once, then one per interval — golang.org/x/time/rate's
// Limiter(average / period, burst), which Traefik uses. One compare-and-swap per request.
#pragma once

#include <atomic>
#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace modelgate::runtime {

class SourceSlots {
 public:
  static constexpr std::size_t kSlots = 4096;  // a power of two
  static constexpr std::size_t kProbe = 8;

  struct Slot {
    std::atomic<std::uint64_t> key{0};  // 0: free
    std::atomic<std::int64_t> value{0};
  };
  SourceSlots() : slots_(new Slot[kSlots]) {}

  // The slot of `key`; `idle(value)` says a slot of another source may be taken over.
  template <typename Idle>
  Slot& find(std::uint64_t key, Idle idle) {
    key |= 1;  // never 0, which marks a free slot
    Slot* last = nullptr;
    for (std::size_t i = 0; i < kProbe; ++i) {
      Slot& s = slots_[(key + i) & (kSlots - 1)];
      std::uint64_t held = s.key.load(std::memory_order_acquire);
      if (held == key) return s;
      if ((held == 0 || idle(s.value.load(std::memory_order_relaxed))) &&
          s.key.compare_exchange_strong(held, key, std::memory_order_acq_rel)) {
        return s;
      }
      if (held == key) return s;  // another request of the same source took it first
      last = &s;
    }
    return *last;
  }

 private:
  std::unique_ptr<Slot[]> slots_;
};

class RateLimiter {
 public:
  // `average` requests per `period_ns`, `burst` at once; average > 0.
  RateLimiter(std::int64_t average, std::int64_t period_ns, std::int64_t burst)
      : interval_(std::max<std::int64_t>(1, period_ns / average)), tolerance_(tolerance(interval_, burst)) {}
  // 0 when the request is admitted; else how long (ns) until one from this source would be.
  std::int64_t admit(std::uint64_t source, std::int64_t now_ns);

 private:
  // (burst - 1) * interval, held far below overflow for a huge burst over a long period.
  static std::int64_t tolerance(std::int64_t interval, std::int64_t burst) {
    constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max() / 4;
    const std::int64_t extra = std::max<std::int64_t>(burst, 1) - 1;
    return extra > kMax / interval ? kMax : extra * interval;
  }
  const std::int64_t interval_;
  const std::int64_t tolerance_;
  SourceSlots slots_;
};

class InFlightLimiter {
 public:
  explicit InFlightLimiter(std::int64_t amount) : amount_(amount) {}
  // The counter the request holds, to give back with leave(); nullptr when `amount` are in flight.
  std::atomic<std::int64_t>* enter(std::uint64_t source);
  static void leave(std::atomic<std::int64_t>* held) { held->fetch_sub(1, std::memory_order_acq_rel); }

 private:
  const std::int64_t amount_;
  SourceSlots slots_;
};

// The counting state of one middleware: what survives a reload with the definition unchanged.
struct MiddlewareState {
  std::unique_ptr<RateLimiter> rate;
  std::unique_ptr<InFlightLimiter> in_flight;
};

// Hands out each middleware's state by name; the same definition gets the same state back. Used on
// the control thread when a snapshot is built (a mutex, off the request path).
class MiddlewareStates {
 public:
  // nullptr for the kinds that keep no state.
  template <typename Make>
  std::shared_ptr<MiddlewareState> get(const std::string& name, const std::string& definition, Make make) {
    std::lock_guard lock(mutex_);
    auto& kept = states_[name];
    if (kept.definition == definition) {
      if (auto state = kept.state.lock()) return state;
    }
    auto state = std::make_shared<MiddlewareState>(make());
    kept = {definition, state};
    return state;
  }

 private:
  struct Kept {
    std::string definition;
    std::weak_ptr<MiddlewareState> state;
  };
  std::mutex mutex_;
  std::map<std::string, Kept> states_;
};

}  // namespace modelgate::runtime
