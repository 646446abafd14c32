#include "proxy/slot_queue.h"

#include <algorithm>

namespace modelgate::proxy {

SlotQueue::~SlotQueue() {
  for (Waiter* w = head_; w; w = w->next) w->queue = nullptr;
}

// The fallback ends on the next multiple of kFallback of the clock, the same instant for every
// waiter: however many wait, and however spread their arrivals, their fallback timers wake the
// worker once per kFallback, not once each.
SlotQueue::Clock::time_point SlotQueue::fallback_after(Clock::time_point now) {
  const auto grid = std::chrono::duration_cast<Clock::duration>(kFallback);
  return Clock::time_point((now.time_since_epoch() / grid + 1) * grid);
}

net::Task<bool> SlotQueue::wait(const void* key, Clock::time_point until) {
  const auto executor = co_await asio::this_coro::executor;
  net::Timer timer(executor, std::min(until, fallback_after(Clock::now())));
  Waiter self{this, key, &timer};
  link(self);
  struct Unlink {
    Waiter& w;
    ~Unlink() {
      if (w.queue) w.queue->unlink(w);
    }
  } unlink_on_exit{self};
  co_await timer.async_wait(net::try_op);
  co_return self.woken;
}

bool SlotQueue::wake(const void* key) {
  for (Waiter* w = head_; w; w = w->next) {
    if (w->key != key || w->woken) continue;
    w->woken = true;
    w->timer->cancel();
    return true;
  }
  return false;
}

void SlotQueue::link(Waiter& w) {
  w.prev = tail_;
  w.next = nullptr;
  (tail_ ? tail_->next : head_) = &w;
  tail_ = &w;
  count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void SlotQueue::unlink(Waiter& w) {
  (w.prev ? w.prev->next : head_) = w.next;
  (w.next ? w.next->prev : tail_) = w.prev;
  w.prev = w.next = nullptr;
  count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

}  // namespace modelgate::proxy
