// The sim's concurrency limit: at most `max` generations run at once, the rest wait in FIFO order
// (a model server queues requests, it does not reject them).
//
// One Limiter is shared by every thread of a sim, so waiters may sit on different io_contexts.
// A waiter parks on its own concurrent_channel (thread-safe, and a buffered send cannot be lost
// even if it happens before the receive starts); release() hands its slot straight to the oldest
// waiter, so a newcomer can never overtake the queue. The mutex is held only for a few pointer
// moves, never across a wake-up. With max == 0 (unlimited) the hot path is two atomic increments.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace modelgate::sim::detail {

class Limiter {
 public:
  explicit Limiter(int max) : max_(max > 0 ? max : 0) {}

  // Takes a slot if one is free and nobody is queued ahead. Never blocks.
  bool try_acquire();
  // Waits in FIFO order for a slot. Returns false when the wait was cancelled (the client left):
  // the slot is then not held. Must be awaited on `executor`.
  boost::asio::awaitable<bool> acquire(boost::asio::any_io_executor executor);
  // Gives a slot back: to the oldest waiter if any.
  void release();

  std::int64_t running() const { return running_.load(std::memory_order_relaxed); }
  std::int64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  std::int64_t peak() const { return peak_.load(std::memory_order_relaxed); }

 private:
  struct Waiter;
  void note_running(std::int64_t now);

  const int max_;
  std::mutex mutex_;                             // guards queue_ and, when max_ > 0, running_
  std::deque<std::shared_ptr<Waiter>> queue_;
  std::atomic<std::int64_t> running_{0};
  std::atomic<std::int64_t> queued_{0};
  std::atomic<std::int64_t> peak_{0};
};

// Releases a held slot on scope exit.
class SlotGuard {
 public:
  SlotGuard() = default;
  explicit SlotGuard(Limiter& limiter) : limiter_(&limiter) {}
  SlotGuard(const SlotGuard&) = delete;
  SlotGuard& operator=(const SlotGuard&) = delete;
  ~SlotGuard() { reset(); }
  void hold(Limiter& limiter) { reset(); limiter_ = &limiter; }
  void reset() {
    if (limiter_) limiter_->release();
    limiter_ = nullptr;
  }

 private:
  Limiter* limiter_ = nullptr;
};

}  // namespace modelgate::sim::detail
