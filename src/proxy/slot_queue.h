// The waiting room of a worker's requests that found every server at its maxConnections.
//
// A waiter sleeps on a timer of its own until a slot is released, not on a poll: a release on
// the same worker cancels the timer of the oldest waiter of that service (FIFO), which then picks
// again. A release on another worker reaches this one as a posted wake (Gateway::wake_slot_waiters),
// only while some worker has waiters: the hot path pays one relaxed load of the service's queued
// count per release. The timer still ends the wait at `until` (the queue's bound, timeouts.connect)
// or at the next kFallback boundary of the clock (one instant for all waiters, so they wake the
// worker together): a release on another thread that crossed the waiter's registration, or a wake
// taken by a request that could not use the freed server (model discovery's server subsets),
// costs at most kFallback, never a lost request.
//
// Waiters live in their coroutine frames and link themselves into an intrusive list: no
// allocation, and a waiter that goes away (its request timed out, its session ended) unlinks
// itself. Touched only by the worker's thread; `waiting()` may be read by others.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>

#include "net/io.h"

namespace modelgate::proxy {

class SlotQueue {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFallback{50};

  SlotQueue() = default;
  // Waiters still linked are detached: their frames may be destroyed after the queue (the
  // worker's io_context, which owns them, goes last).
  ~SlotQueue();
  SlotQueue(const SlotQueue&) = delete;
  SlotQueue& operator=(const SlotQueue&) = delete;

  // Waits until a slot of `key` (the service's counters) is released, `until` passes, or
  // kFallback passes, whichever comes first. True when woken by a release.
  net::Task<bool> wait(const void* key, Clock::time_point until);
  // Wakes the oldest waiter of `key` not woken yet; false when there is none.
  bool wake(const void* key);
  // Waiters now (any thread may read it, to decide whether to post a wake here).
  std::size_t waiting() const { return count_.load(std::memory_order_relaxed); }
  // When a wait that began at `now` ends at the latest for want of a wake: the next multiple of
  // kFallback of the clock, between 0 and kFallback ahead.
  static Clock::time_point fallback_after(Clock::time_point now);

 private:
  struct Waiter {
    SlotQueue* queue;  // null once the queue is gone
    const void* key;
    net::Timer* timer;
    bool woken = false;
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
  };
  void link(Waiter& w);
  void unlink(Waiter& w);

  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
  std::atomic<std::size_t> count_{0};
};

}  // namespace modelgate::proxy
