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
// With a limits store (auth.store), the four windows are shared by every gateway using it: each
// admits within what it has leased from the store (lease.h) instead of within the limit.
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
#include "tenancy/lease.h"
#include "tenancy/window.h"

namespace modelgate::tenancy {

enum class Limit : std::uint8_t { none, requests, tokens, day, month, concurrency };
inline constexpr std::size_t kLimitKinds = 6;
std::string_view limit_name(Limit l);  // "requestsPerMinute", ...

// What one key has used, kept across reloads while a key of that name exists (key_table.h).
struct KeyState {
  Window requests_minute, tokens_minute, tokens_day, tokens_month;
  std::atomic<std::uint64_t> inflight{0};
  // With a limits store (lease.h): what this gateway holds of each shared window, whether its
  // thread has been asked for a lease, and how many times it has answered (waiters watch it).
  Lease leases[kSharedWindows];
  std::atomic<bool> refill{false};
  std::atomic<std::uint64_t> lease_answers{0};
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
  bool wait_lease = false;          // not decided: the key needs a lease from the store first
  bool store_down = false;          // refused: the store is unreachable and the policy is failClosed
  std::uint64_t lease_answers = 0;  // KeyState::lease_answers when admit() read the leases
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
  // taken for it given back). With a `store` that is reachable, the shared windows admit within
  // what this gateway has leased; when that is not enough and the store may have more, the answer
  // is wait_lease (a lease asked for): call again once the store's thread has answered. An
  // unreachable store gives this gateway's own limits (failOpen) or store_down (failClosed).
  Admission admit(KeyState& s, const config::KeyLimits& l, std::uint64_t estimate, StoreLink* store = nullptr) const;
  // What the key has left in this minute, taking nothing (the x-ratelimit-* figures of an answer).
  Admission standing(const KeyState& s, const config::KeyLimits& l, const StoreLink* store = nullptr) const;
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
