// The waiting room of a worker's requests that found every server at its maxConnections.
//
// A request that finds every server busy takes a Place in its service's line, kept until it gets
// a slot or gives up. A waiter sleeps on a timer of its own until a slot is released, not on a
// poll: a release on the same worker cancels the timer of the waiter of that service that goes
// first, which then picks again. Who goes first: the highest priority class, and within it the
// smallest start tag of the start-time fair queue by tokens (fair_share.h), so a tenant flooding
// long prompts cannot starve a light one; equal tags keep arrival order (FIFO for one tenant).
//
// A release on another worker reaches this one as a posted wake (Gateway::wake_slot_waiters),
// only while some worker has waiters: the hot path pays one relaxed load of the service's queued
// count per release. The timer still ends the wait at `until` (the queue's bound, timeouts.connect)
// or at the next kFallback boundary of the clock (one instant for all waiters, so they wake the
// worker together): a release on another thread that crossed the waiter's registration, or a wake
// taken by a request that could not use the freed server (model discovery's server subsets),
// costs at most kFallback, never a lost request. While a woken waiter has not picked yet, the slot
// is on its way to it: neither another waiter's fallback nor a request that has not waited (a
// keep-alive connection whose next request was already read can reach its pick before the woken
// waiter runs) takes it first; they wait in line. A woken waiter that finds the slot taken anyway
// (by another worker) keeps its place and its tag.
//
// Places live in their requests' coroutine frames and link themselves into an intrusive list: no
// allocation, and a place that goes away (its request timed out, its session ended) unlinks
// itself. Finding who goes first walks the list (at most the service's queue bound). Touched only
// by the worker's thread; `waiting()` may be read by others.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "net/io.h"
#include "proxy/fair_share.h"

namespace modelgate::proxy {

class SlotQueue {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kFallback{50};

  // A request's place in the line of `key` (the service's counters), from its first wait until it
  // gets a slot (served()) or leaves. Not movable: the queue links to it.
  class Place {
   public:
    Place(SlotQueue& queue, const void* key, const Ticket& ticket);
    ~Place();
    Place(const Place&) = delete;
    Place& operator=(const Place&) = delete;
    // The request got a slot: it leaves the line as served (its tokens stay counted).
    void served();
    std::uint64_t tag() const { return tag_; }

   private:
    friend class SlotQueue;
    void leave(bool served);

    SlotQueue* queue_;  // null once left, or once the queue is gone
    const void* key_;
    Ticket ticket_;
    std::uint64_t tag_;
    net::Timer* timer_ = nullptr;  // while waiting
    bool woken_ = false;
    Place* prev_ = nullptr;
    Place* next_ = nullptr;
  };

  SlotQueue() = default;
  // Places still linked are detached: their frames may be destroyed after the queue (the
  // worker's io_context, which owns them, goes last).
  ~SlotQueue();
  SlotQueue(const SlotQueue&) = delete;
  SlotQueue& operator=(const SlotQueue&) = delete;

  // Waits until a slot of the place's service is released, `until` passes, or kFallback passes,
  // whichever comes first. True when woken by a release.
  net::Task<bool> wait(Place& place, Clock::time_point until);
  // Wakes the waiter of `key` that goes first, among those asleep; false when there is none.
  bool wake(const void* key);
  // A waiter of `key` was woken and has not picked yet: the slot released is on its way to it,
  // and a request that has not waited must not take it first (it joins the line instead).
  bool handing_over(const void* key) const;
  // Places now (any thread may read it, to decide whether to post a wake here).
  std::size_t waiting() const { return count_.load(std::memory_order_relaxed); }
  // Places of `key` on this worker.
  std::size_t places(const void* key) const { return share_.members(key); }
  // Whether this release of a slot goes to the waiters of other workers: every other one while
  // some wait there too (Worker::slot_released).
  bool turn_elsewhere() { return (++releases_ & 1) == 0; }
  // A slot of `key` was handed to another worker's waiters: for kElsewhere this worker's requests
  // do not take it first (handing_over), the time a posted wake takes to run there.
  static constexpr std::chrono::milliseconds kElsewhere{2};
  void handed_elsewhere(const void* key);
  const FairShare& share() const { return share_; }
  // When a wait that began at `now` ends at the latest for want of a wake: the next multiple of
  // kFallback of the clock, between 0 and kFallback ahead.
  static Clock::time_point fallback_after(Clock::time_point now);

 private:
  void set_woken(Place& p, bool woken);
  void link(Place& p);
  void unlink(Place& p);

  Place* head_ = nullptr;
  Place* tail_ = nullptr;
  std::atomic<std::size_t> count_{0};
  std::size_t handovers_ = 0;  // places woken that have not picked yet
  std::uint64_t releases_ = 0;
  const void* elsewhere_key_ = nullptr;
  Clock::time_point elsewhere_until_{};
  FairShare share_;
};

}  // namespace modelgate::proxy
