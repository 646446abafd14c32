// Timeouts of a worker's connections, on one timer.
//
// Every read and write of a proxied exchange has a deadline, and most are moved later before they
// are reached. Giving each operation its own Asio timer costs a timer-queue insert and removal
// per operation, and a system call whenever the earliest one changes. Here a connection owns one
// Deadline, an entry of the worker's hashed wheel of kTick slots: setting it is a few stores (an
// entry moved later stays where it is and is re-filed when its old slot comes round), and a single
// timer ticks only while some deadline is set. Expiry is kTick-coarse: a timeout fires between 0
// and kTick after its time. The wheel reads the time from its net::Clock, so a test moves a
// ManualClock and calls expire_due() instead of waiting for the timer.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>

#include "net/clock.h"
#include "net/io.h"

namespace modelgate::net {

class DeadlineWheel;

class Deadline {
 public:
  using Clock = net::Clock;

  // `fire(owner)` runs on the worker's thread when the deadline passes.
  Deadline(DeadlineWheel& wheel, void (*fire)(void*), void* owner) : wheel_(&wheel), fire_(fire), owner_(owner) {}
  ~Deadline();
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Relative to the wheel's clock read coarsely (the kernel's coarse clock: a memory read, no timer
  // read, rounded up so that the deadline is never earlier than asked); the wheel's ticks are
  // coarser anyway.
  void after(Clock::duration d);
  // The steady clock read coarsely (net::steady_coarse_now()).
  static Clock::time_point coarse_now() { return steady_coarse_now(); }
  void at(Clock::time_point t);
  void clear() { at_ = Clock::time_point::max(); }
  Clock::time_point when() const { return at_; }
  // It fired since it was last set.
  bool expired() const { return expired_; }

 private:
  friend class DeadlineWheel;
  DeadlineWheel* wheel_;
  void (*fire_)(void*);
  void* owner_;
  Clock::time_point at_ = Clock::time_point::max();
  bool expired_ = false;
  // Filing in the wheel: the tick of the slot it is in, and its neighbours there.
  std::int64_t filed_tick_ = -1;  // -1: not filed
  Deadline* prev_ = nullptr;
  Deadline* next_ = nullptr;
};

class DeadlineWheel {
 public:
  using Clock = Deadline::Clock;
  static constexpr auto kTick = std::chrono::milliseconds(8);
  static constexpr std::size_t kSlots = 512;  // one turn: about 4 s

  explicit DeadlineWheel(Clock clock = {}) : clock_(clock) {}
  ~DeadlineWheel();  // entries still filed are detached (their owners may outlive the wheel)
  DeadlineWheel(const DeadlineWheel&) = delete;
  DeadlineWheel& operator=(const DeadlineWheel&) = delete;

  // The timer runs on `ex`; call before the first deadline is set.
  void start(Executor ex) { timer_.emplace(ex); }
  std::size_t filed() const { return filed_; }
  const Clock& clock() const { return clock_; }

  // Fires every deadline that is due at the clock's now. The timer calls it every kTick; a test
  // on a ManualClock calls it after moving the clock.
  void expire_due();

 private:
  friend class Deadline;
  static std::int64_t tick_of(Clock::time_point t);
  void file(Deadline& d, std::int64_t tick);
  void unfile(Deadline& d);
  void arm();

  Clock clock_;

  std::array<Deadline*, kSlots> slots_{};
  std::size_t filed_ = 0;
  std::int64_t done_tick_ = -1;  // every slot up to this tick has been processed
  std::optional<Timer> timer_;
  bool armed_ = false;
};

inline void Deadline::after(Clock::duration d) {
  // A deadline whose wheel has gone is never filed: any time will do.
  at((wheel_ ? wheel_->clock_.coarse_now() : steady_coarse_now()) + d);
}

}  // namespace modelgate::net
