#include "tenancy/limiter.h"

#include <algorithm>

#include <fmt/format.h>

namespace modelgate::tenancy {

namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kDayMs = 86'400'000;

std::uint64_t left(std::uint64_t limit, std::uint64_t used) { return used >= limit ? 0 : limit - used; }

// What the x-ratelimit-* headers say: the requests and tokens left in the minute of `w`.
Admission left_in_minute(const KeyState& s, const config::KeyLimits& l, const Windows& w) {
  Admission a;
  a.remaining_requests = left(l.requestsPerMinute, s.requests_minute.used(w.minute));
  a.remaining_tokens = left(l.tokensPerMinute, s.tokens_minute.used(w.minute));
  a.reset_requests_ms = a.reset_tokens_ms = w.minute_end_ms - w.unix_ms;
  return a;
}

}  // namespace

std::uint64_t Window::current(std::uint64_t packed, std::uint64_t window) {
  const std::uint64_t stored = packed >> kCountBits, id = window & kIdMask;
  const bool stored_newer = stored != id && ((stored - id) & kIdMask) < (kIdMask + 1) / 2;
  return stored_newer ? stored : id;
}

bool Window::take(std::uint64_t window, std::uint64_t n, std::uint64_t limit) {
  std::uint64_t now = packed_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t id = current(now, window);
    const std::uint64_t count = (now >> kCountBits) == id ? now & kCountMask : 0;
    if (limit > 0 && count + n > limit) return false;
    const std::uint64_t next = pack(id, std::min(count + n, kCountMask));
    if (packed_.compare_exchange_weak(now, next, std::memory_order_relaxed)) return true;
  }
}

void Window::adjust(std::uint64_t window, std::int64_t delta) {
  std::uint64_t now = packed_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t id = current(now, window);
    const auto count = (now >> kCountBits) == id ? static_cast<std::int64_t>(now & kCountMask) : 0;
    const std::uint64_t next = pack(id, static_cast<std::uint64_t>(std::max<std::int64_t>(0, count + delta)));
    if (packed_.compare_exchange_weak(now, next, std::memory_order_relaxed)) return;
  }
}

std::uint64_t Window::used(std::uint64_t window) const {
  const std::uint64_t now = packed_.load(std::memory_order_relaxed);
  return (now >> kCountBits) == current(now, window) ? now & kCountMask : 0;
}

void Window::restore(std::uint64_t window, std::uint64_t count) {
  packed_.store(pack(window, count), std::memory_order_relaxed);
}

std::string_view limit_name(Limit l) {
  switch (l) {
    case Limit::requests: return "requestsPerMinute";
    case Limit::tokens: return "tokensPerMinute";
    case Limit::day: return "tokensPerDay";
    case Limit::month: return "tokensPerMonth";
    case Limit::concurrency: return "concurrency";
    case Limit::none: break;
  }
  return "none";
}

Windows windows_at(std::int64_t unix_ms) {
  using namespace std::chrono;
  Windows w;
  w.unix_ms = unix_ms;
  const std::int64_t minute = unix_ms / kMinuteMs;
  const std::int64_t day = unix_ms / kDayMs;
  w.minute = static_cast<std::uint64_t>(minute);
  w.day = static_cast<std::uint64_t>(day);
  w.minute_end_ms = (minute + 1) * kMinuteMs;
  w.day_end_ms = (day + 1) * kDayMs;
  const year_month_day ymd{sys_days{days{day}}};
  w.month = static_cast<std::uint64_t>(static_cast<int>(ymd.year()) * 12 + static_cast<int>(unsigned(ymd.month())) - 1);
  const year_month next = year_month{ymd.year(), ymd.month()} + months{1};
  w.month_end_ms = duration_cast<milliseconds>(sys_days{next / 1}.time_since_epoch()).count();
  return w;
}

std::int64_t Limiter::system_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Limiter::Limiter(net::Clock clock, std::int64_t unix_ms_at_start)
    : clock_(clock), offset_ns_(unix_ms_at_start * 1'000'000 - clock.now_ns()) {}

std::int64_t Limiter::unix_ms() const { return (clock_.now_ns() + offset_ns_) / 1'000'000; }

Admission Limiter::admit(KeyState& s, const config::KeyLimits& l, std::uint64_t estimate) const {
  const Windows w = windows_at(unix_ms());
  Admission a;
  auto refuse = [&](Limit why, std::int64_t until_ms) {
    a.refused = why;
    a.retry_after_ms = std::max<std::int64_t>(1, until_ms - w.unix_ms);
    s.refused[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  };
  // A limit that refuses gives back what the ones before it took.
  if (l.concurrency > 0) {
    std::uint64_t now = s.inflight.load(std::memory_order_relaxed);
    do {
      if (now >= l.concurrency) {
        refuse(Limit::concurrency, w.unix_ms + 1000);  // a slot frees when a request ends: retry soon
        return a;
      }
    } while (!s.inflight.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
    a.holds_slot = true;
  }
  auto give_slot_back = [&] {
    if (a.holds_slot) s.inflight.fetch_sub(1, std::memory_order_relaxed);
    a.holds_slot = false;
  };
  if (l.requestsPerMinute > 0 && !s.requests_minute.take(w.minute, 1, l.requestsPerMinute)) {
    give_slot_back();
    refuse(Limit::requests, w.minute_end_ms);
    return a;
  }
  // The token windows count even without a limit: the headers, metrics and budgets file read them.
  struct TokenWindow {
    Window& window;
    std::uint64_t id, limit;
    Limit why;
    std::int64_t end_ms;
  };
  const TokenWindow windows[] = {{s.tokens_minute, w.minute, l.tokensPerMinute, Limit::tokens, w.minute_end_ms},
                                 {s.tokens_day, w.day, l.tokensPerDay, Limit::day, w.day_end_ms},
                                 {s.tokens_month, w.month, l.tokensPerMonth, Limit::month, w.month_end_ms}};
  for (std::size_t i = 0; i < std::size(windows); ++i) {
    if (windows[i].window.take(windows[i].id, estimate, windows[i].limit)) continue;
    for (std::size_t j = 0; j < i; ++j) windows[j].window.adjust(windows[j].id, -static_cast<std::int64_t>(estimate));
    if (l.requestsPerMinute > 0) s.requests_minute.adjust(w.minute, -1);
    give_slot_back();
    refuse(windows[i].why, windows[i].end_ms);
    return a;
  }
  s.admitted.fetch_add(1, std::memory_order_relaxed);
  Admission taken = left_in_minute(s, l, w);
  taken.charged = estimate;
  taken.holds_slot = a.holds_slot;
  return taken;
}

Admission Limiter::standing(const KeyState& s, const config::KeyLimits& l) const {
  return left_in_minute(s, l, windows_at(unix_ms()));
}

void Limiter::finish(KeyState& s, const config::KeyLimits& l, const Admission& a, std::optional<std::uint64_t> prompt,
                     std::optional<std::uint64_t> completion) const {
  if (a.holds_slot) s.inflight.fetch_sub(1, std::memory_order_relaxed);
  if (a.refused != Limit::none) return;
  if (prompt) s.prompt_tokens.fetch_add(*prompt, std::memory_order_relaxed);
  if (completion) s.completion_tokens.fetch_add(*completion, std::memory_order_relaxed);
  if (!prompt && !completion) return;  // no usage: the estimate stands
  const std::int64_t delta =
      static_cast<std::int64_t>(prompt.value_or(0) + completion.value_or(0)) - static_cast<std::int64_t>(a.charged);
  if (delta == 0) return;
  const Windows w = windows_at(unix_ms());
  s.tokens_minute.adjust(w.minute, delta);
  s.tokens_day.adjust(w.day, delta);
  s.tokens_month.adjust(w.month, delta);
}

std::string format_reset(std::int64_t ms) {
  if (ms < 1000) return fmt::format("{}ms", std::max<std::int64_t>(0, ms));
  const std::int64_t h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
  std::string seconds = frac == 0 ? fmt::format("{}s", s) : fmt::format("{}.{:03}", s, frac);
  if (frac != 0) {
    while (seconds.back() == '0') seconds.pop_back();
    seconds += 's';
  }
  if (h > 0) return fmt::format("{}h{}m{}", h, m, seconds);
  if (m > 0) return fmt::format("{}m{}", m, seconds);
  return seconds;
}

}  // namespace modelgate::tenancy
