#include "net/deadline.h"

#include <limits>

namespace modelgate::net {

Deadline::~Deadline() {
  if (wheel_ && filed_tick_ >= 0) wheel_->unfile(*this);
}

void Deadline::at(Clock::time_point t) {
  at_ = t;
  expired_ = false;
  if (!wheel_) return;
  const auto tick = DeadlineWheel::tick_of(t);
  if (filed_tick_ >= 0) {
    if (tick >= filed_tick_) return;  // later than filed: re-filed when its slot comes round
    wheel_->unfile(*this);
  }
  wheel_->file(*this, tick);
}

DeadlineWheel::~DeadlineWheel() {
  for (auto*& head : slots_) {
    for (Deadline* d = head; d;) {
      Deadline* next = d->next_;
      d->wheel_ = nullptr;
      d->filed_tick_ = -1;
      d->prev_ = d->next_ = nullptr;
      d = next;
    }
    head = nullptr;
  }
}

std::int64_t DeadlineWheel::tick_of(Clock::time_point t) {
  if (t == Clock::time_point::max()) return std::numeric_limits<std::int64_t>::max();
  // Rounded up: a deadline never fires early.
  const auto ns = t.time_since_epoch().count();
  constexpr auto tick_ns = std::chrono::nanoseconds(kTick).count();
  return (ns + tick_ns - 1) / tick_ns;
}

void DeadlineWheel::file(Deadline& d, std::int64_t tick) {
  if (tick == std::numeric_limits<std::int64_t>::max()) return;  // never: not filed
  if (done_tick_ < 0) done_tick_ = tick_of(clock_.now()) - 1;
  tick = std::max(tick, done_tick_ + 1);
  auto& head = slots_[static_cast<std::size_t>(tick) % kSlots];
  d.filed_tick_ = tick;
  d.prev_ = nullptr;
  d.next_ = head;
  if (head) head->prev_ = &d;
  head = &d;
  ++filed_;
  arm();
}

void DeadlineWheel::unfile(Deadline& d) {
  auto& head = slots_[static_cast<std::size_t>(d.filed_tick_) % kSlots];
  if (d.prev_) {
    d.prev_->next_ = d.next_;
  } else {
    head = d.next_;
  }
  if (d.next_) d.next_->prev_ = d.prev_;
  d.prev_ = d.next_ = nullptr;
  d.filed_tick_ = -1;
  --filed_;
}

void DeadlineWheel::arm() {
  if (armed_ || filed_ == 0 || !timer_) return;
  armed_ = true;
  timer_->expires_after(kTick);
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // the wheel is going away
    armed_ = false;
    expire_due();
    arm();
  });
}

void DeadlineWheel::expire_due() {
  const auto now = clock_.now();
  const auto now_tick = tick_of(now);
  // After a long stall, one turn covers every slot.
  const auto first = std::max(done_tick_ + 1, now_tick - static_cast<std::int64_t>(kSlots) + 1);
  done_tick_ = now_tick;  // a deadline set from a callback below goes to a later tick
  for (auto tick = first; tick <= now_tick; ++tick) {
    auto& head = slots_[static_cast<std::size_t>(tick) % kSlots];
    Deadline* list = head;
    head = nullptr;
    while (list) {
      Deadline& d = *list;
      list = d.next_;
      d.prev_ = d.next_ = nullptr;
      d.filed_tick_ = -1;
      --filed_;
      if (d.at_ <= now) {
        d.at_ = Clock::time_point::max();
        d.expired_ = true;
        d.fire_(d.owner_);  // may set the deadline again: it is filed afresh
      } else {
        const auto due = tick_of(d.at_);
        if (due != std::numeric_limits<std::int64_t>::max()) {
          // Still due later: into its own slot (this one again if it is a later turn).
          auto& to = slots_[static_cast<std::size_t>(std::max(due, now_tick + 1)) % kSlots];
          d.filed_tick_ = std::max(due, now_tick + 1);
          d.next_ = to;
          if (to) to->prev_ = &d;
          to = &d;
          ++filed_;
        }
      }
    }
  }
}

}  // namespace modelgate::net
