// Per-key limits (docs/auth.md): requests and tokens per minute, tokens per UTC day and month,
// requests in flight. Lock-free: each window is one 64-bit atomic holding the window's number and
// its count, changed by compare-and-swap, so a request is admitted or refused exactly (N allowed,
// N+1 refused, from any number of threads at once) and a window rolls over in the same CAS that
// counts the first request of the next one.
//
// The windows are fixed, aligned on the wall clock (UTC): a minute starts at :00, a day at 00:00
// UTC, a month on its 1st. That is what the reset headers announce, and what makes a day's budget
// a plain number to keep across restarts (budget_store.h). Wall time is read as an injected
// monotonic clock (net/clock.h) plus the wall time it had at construction, so tests move it by
// command.
//
// Tokens are charged twice: before forwarding, an estimate of the prompt (body bytes / 4, the
// usual rule of thumb for English text and JSON); after the answer, the difference to what its
// usage reports (prompt + completion tokens), so the windows end up holding what was really used.
// A request is refused when its estimate does not fit what is left of a token window.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "config/config.h"
#include "net/clock.h"

namespace modelgate::tenancy {

// A fixed window: the window's number (20 bits, wraps after 2^20 windows) and its count (44 bits).
// Two threads may read the clock either side of a window's end: a window number older than the
// stored one then counts into the stored (newer) window rather than overwrite it.
class Window {
 public:
  static constexpr std::uint64_t kCountBits = 44;
  static constexpr std::uint64_t kCountMask = (std::uint64_t{1} << kCountBits) - 1;
  static constexpr std::uint64_t kIdMask = (std::uint64_t{1} << (64 - kCountBits)) - 1;

  // Adds `n` when the count stays within `limit` (0: no limit); false (and nothing added) if not.
  bool take(std::uint64_t window, std::uint64_t n, std::uint64_t limit);
  // Adds `delta` (may be negative; the count stays >= 0) to the window.
  void adjust(std::uint64_t window, std::int64_t delta);
  // The count in `window` (0 when the stored one is older).
  std::uint64_t used(std::uint64_t window) const;
  // For restoring a kept budget: sets the count of `window`.
  void restore(std::uint64_t window, std::uint64_t count);
  std::uint64_t raw() const { return packed_.load(std::memory_order_relaxed); }

 private:
  static std::uint64_t pack(std::uint64_t window, std::uint64_t count) {
    return ((window & kIdMask) << kCountBits) | (count & kCountMask);
  }
  // The window `window` means against what is stored: itself, or the stored one when that is newer.
  static std::uint64_t current(std::uint64_t packed, std::uint64_t window);
  std::atomic<std::uint64_t> packed_{0};
};

enum class Limit : std::uint8_t { none, requests, tokens, day, month, concurrency };
inline constexpr std::size_t kLimitKinds = 6;
std::string_view limit_name(Limit l);  // "requestsPerMinute", ...

// What one key has used, kept across reloads while a key of that name exists (key_table.h).
struct KeyState {
  Window requests_minute, tokens_minute, tokens_day, tokens_month;
  std::atomic<std::uint64_t> inflight{0};
  // For the metrics.
  std::atomic<std::uint64_t> admitted{0}, prompt_tokens{0}, completion_tokens{0};
  std::atomic<std::uint64_t> refused[kLimitKinds] = {};
};

// The numbers of the windows one instant falls in.
struct Windows {
  std::int64_t unix_ms = 0;
  std::uint64_t minute = 0, day = 0, month = 0;
  std::int64_t minute_end_ms = 0, day_end_ms = 0, month_end_ms = 0;  // unix ms of each window's end
};
Windows windows_at(std::int64_t unix_ms);

// The answer to one request, with what OpenAI's x-ratelimit-* headers say.
struct Admission {
  Limit refused = Limit::none;
  std::int64_t retry_after_ms = 0;  // refused: until the window that refused frees up
  std::uint64_t charged = 0;        // tokens charged up front (the estimate)
  bool holds_slot = false;          // a concurrency slot was taken
  // For the headers (limits of 0 are not announced).
  std::uint64_t remaining_requests = 0, remaining_tokens = 0;
  std::int64_t reset_requests_ms = 0, reset_tokens_ms = 0;
};

class Limiter {
 public:
  // `clock`'s now() is wall time `unix_ms_at_start` when the limiter is made.
  explicit Limiter(net::Clock clock = {}, std::int64_t unix_ms_at_start = system_unix_ms());
  static std::int64_t system_unix_ms();

  std::int64_t unix_ms() const;
  // Admits a request estimated at `estimate` tokens, or says which limit refuses it (everything
  // taken for it given back).
  Admission admit(KeyState& s, const config::KeyLimits& l, std::uint64_t estimate) const;
  // What the key has left in this minute, taking nothing (the x-ratelimit-* figures of an answer).
  Admission standing(const KeyState& s, const config::KeyLimits& l) const;
  // The request is over: its real token count (nullopt: unknown, the estimate stands) and its slot.
  void finish(KeyState& s, const config::KeyLimits& l, const Admission& a, std::optional<std::uint64_t> prompt,
              std::optional<std::uint64_t> completion) const;

 private:
  net::Clock clock_;
  std::int64_t offset_ns_ = 0;  // wall - steady
};

// The prompt's estimated tokens from its body size (bytes / 4, at least 1).
inline std::uint64_t estimate_tokens(std::size_t body_bytes) { return body_bytes / 4 + 1; }

// OpenAI's form of a reset duration: "20ms", "1s", "1.5s", "6m0s", "1h2m3s".
std::string format_reset(std::int64_t ms);

}  // namespace modelgate::tenancy
