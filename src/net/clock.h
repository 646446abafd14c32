// Monotonic time that tests can drive.
//
// Timeouts (the deadline wheel), idle expiry of pooled connections, passive-health ejections and
// active-check intervals all read a monotonic clock. In the gateway that is CLOCK_MONOTONIC
// (std::chrono::steady_clock) or its coarse variant; a test hands a component a ManualClock
// instead and moves time by command, so "fires after 30 s" takes no 30 s and cannot fail because
// a loaded machine woke a thread late.
//
// Clock is a value holding a pointer to a ManualClock, null for the real clock: reading it costs
// one well-predicted branch and a direct call, no virtual call, on the request path.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace modelgate::net {

using SteadyTime = std::chrono::steady_clock::time_point;

// CLOCK_MONOTONIC_COARSE (a memory read, no timer read) plus its resolution, so that a deadline
// computed from it is never earlier than asked. Same origin as steady_clock.
SteadyTime steady_coarse_now();

// Time that moves only when told to. Readable from any thread; moved by the test's thread.
class ManualClock {
 public:
  // Starts well away from 0, which some state uses for "never".
  explicit ManualClock(std::chrono::nanoseconds start = std::chrono::hours(1)) : ns_(start.count()) {}
  SteadyTime now() const { return SteadyTime(std::chrono::nanoseconds(ns_.load(std::memory_order_acquire))); }
  void advance(std::chrono::nanoseconds d) { ns_.fetch_add(d.count(), std::memory_order_acq_rel); }
  void set(SteadyTime t) { ns_.store(t.time_since_epoch().count(), std::memory_order_release); }

 private:
  std::atomic<std::int64_t> ns_;
};

class Clock {
 public:
  using duration = std::chrono::steady_clock::duration;
  using time_point = SteadyTime;

  constexpr Clock() = default;  // the real monotonic clock
  explicit constexpr Clock(const ManualClock& manual) : manual_(&manual) {}

  time_point now() const { return manual_ ? manual_->now() : std::chrono::steady_clock::now(); }
  // Up to one kernel tick behind now() and rounded up; use where a tick does not matter.
  time_point coarse_now() const { return manual_ ? manual_->now() : steady_coarse_now(); }
  std::int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(now().time_since_epoch()).count();
  }
  bool manual() const { return manual_ != nullptr; }

 private:
  const ManualClock* manual_ = nullptr;
};

}  // namespace modelgate::net
