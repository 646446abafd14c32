#include "proxy/slot_queue.h"

#include <algorithm>

namespace modelgate::proxy {

SlotQueue::Place::Place(SlotQueue& queue, const void* key, const Ticket& ticket)
    : queue_(&queue), key_(key), ticket_(ticket), tag_(queue.share_.join(key, ticket)) {
  queue.link(*this);
}

SlotQueue::Place::~Place() { leave(false); }

void SlotQueue::Place::served() { leave(true); }

void SlotQueue::Place::leave(bool served) {
  if (!queue_) return;
  queue_->set_woken(*this, false);
  if (served) queue_->share_.serve(key_, ticket_.priority, tag_);
  queue_->share_.leave(key_, ticket_, tag_, served);
  queue_->unlink(*this);
  queue_ = nullptr;
}

SlotQueue::~SlotQueue() {
  for (Place* p = head_; p; p = p->next_) p->queue_ = nullptr;
}

// The fallback ends on the next multiple of kFallback of the clock, the same instant for every
// waiter: however many wait, and however spread their arrivals, their fallback timers wake the
// worker once per kFallback, not once each.
SlotQueue::Clock::time_point SlotQueue::fallback_after(Clock::time_point now) {
  const auto grid = std::chrono::duration_cast<Clock::duration>(kFallback);
  return Clock::time_point((now.time_since_epoch() / grid + 1) * grid);
}

// A waiter whose fallback ends while a slot is being handed to another waiter of its service (woken,
// not yet run) sleeps on: picking then would take the slot from the one it was given to, by the
// order of their handlers rather than of the line.
net::Task<bool> SlotQueue::wait(Place& place, Clock::time_point until) {
  const auto executor = co_await asio::this_coro::executor;
  net::Timer timer(executor);
  place.timer_ = &timer;
  set_woken(place, false);
  struct Asleep {
    Place& p;
    ~Asleep() { p.timer_ = nullptr; }
  } asleep{place};
  do {
    timer.expires_at(std::min(until, fallback_after(Clock::now())));
    co_await timer.async_wait(net::try_op);
  } while (!place.woken_ && Clock::now() < until && handing_over(place.key_));
  co_return place.woken_;
}

void SlotQueue::handed_elsewhere(const void* key) {
  elsewhere_key_ = key;
  elsewhere_until_ = Clock::now() + kElsewhere;
}

bool SlotQueue::handing_over(const void* key) const {
  if (key == elsewhere_key_ && Clock::now() < elsewhere_until_) return true;
  if (handovers_ == 0) return false;
  for (const Place* p = head_; p; p = p->next_) {
    if (p->key_ == key && p->woken_) return true;
  }
  return false;
}

void SlotQueue::set_woken(Place& p, bool woken) {
  if (p.woken_ == woken) return;
  p.woken_ = woken;
  woken ? ++handovers_ : --handovers_;
}

bool SlotQueue::wake(const void* key) {
  Place* first = nullptr;
  for (Place* p = head_; p; p = p->next_) {
    if (p->key_ != key || !p->timer_ || p->woken_) continue;
    if (!first || p->ticket_.priority < first->ticket_.priority ||
        (p->ticket_.priority == first->ticket_.priority && p->tag_ < first->tag_)) {
      first = p;
    }
  }
  if (!first) return false;
  set_woken(*first, true);
  first->timer_->cancel();
  return true;
}

void SlotQueue::link(Place& p) {
  p.prev_ = tail_;
  p.next_ = nullptr;
  (tail_ ? tail_->next_ : head_) = &p;
  tail_ = &p;
  count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void SlotQueue::unlink(Place& p) {
  (p.prev_ ? p.prev_->next_ : head_) = p.next_;
  (p.next_ ? p.next_->prev_ : tail_) = p.prev_;
  p.prev_ = p.next_ = nullptr;
  count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

}  // namespace modelgate::proxy
