#include "tenancy/limiter.h"

#include <algorithm>

#include <fmt/format.h>

namespace modelgate::tenancy {

namespace {

constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kDayMs = 86'400'000;

std::uint64_t left(std::uint64_t limit, std::uint64_t used) { return used >= limit ? 0 : limit - used; }

// What the key has left of one minute window: of the limit on this gateway alone; with a store,
// what this gateway holds plus what the store had left at its last answer.
std::uint64_t left_of(const Window& window, const Lease& lease, std::uint64_t limit, std::uint64_t id, bool shared) {
  const std::uint64_t used = window.used(id);
  if (!shared) return left(limit, used);
  const std::uint64_t granted = lease.granted.used(id), left_plus1 = lease.store_left.used(id);
  const std::uint64_t elsewhere = left_plus1 == 0 ? left(limit, granted) : left_plus1 - 1;
  return std::min(limit, left(granted, used) + elsewhere);
}

// What the x-ratelimit-* headers say: the requests and tokens left in the minute of `w`.
Admission left_in_minute(const KeyState& s, const config::KeyLimits& l, const Windows& w, bool shared) {
  Admission a;
  a.remaining_requests = left_of(s.requests_minute, s.leases[0], l.requestsPerMinute, w.minute, shared);
  a.remaining_tokens = left_of(s.tokens_minute, s.leases[1], l.tokensPerMinute, w.minute, shared);
  a.reset_requests_ms = a.reset_tokens_ms = w.minute_end_ms - w.unix_ms;
  return a;
}

// Asks the store's thread for a lease of this key (once until it has answered).
void ask_lease(KeyState& s, StoreLink& store) {
  if (!s.refill.exchange(true, std::memory_order_acq_rel)) store.wake();
}

// The store had less left than the request lacks at its last answer: no lease can admit it.
bool exhausted(const Lease& lease, std::uint64_t id, std::uint64_t lacking) {
  const std::uint64_t left_plus1 = lease.store_left.used(id);
  return left_plus1 != 0 && left_plus1 - 1 < lacking;
}

}  // namespace

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

Admission Limiter::admit(KeyState& s, const config::KeyLimits& l, std::uint64_t estimate, StoreLink* store) const {
  const Windows w = windows_at(unix_ms());
  Admission a;
  if (store) a.lease_answers = s.lease_answers.load(std::memory_order_acquire);
  const bool leased = store && store->connected();
  if (store && !leased && !store->fail_open()) {
    a.store_down = true;
    return a;
  }
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
  // In the order of Shared (lease.h). The token windows count even without a limit: the headers,
  // metrics and budgets file read them; requests are counted only with a limit.
  struct Counted {
    Window& window;
    std::uint64_t id, limit, n;
    Limit why;
    std::int64_t end_ms;
  };
  const Counted counted[kSharedWindows] = {
      {s.requests_minute, w.minute, l.requestsPerMinute, 1, Limit::requests, w.minute_end_ms},
      {s.tokens_minute, w.minute, l.tokensPerMinute, estimate, Limit::tokens, w.minute_end_ms},
      {s.tokens_day, w.day, l.tokensPerDay, estimate, Limit::day, w.day_end_ms},
      {s.tokens_month, w.month, l.tokensPerMonth, estimate, Limit::month, w.month_end_ms}};
  const bool count_requests = l.requestsPerMinute > 0;
  for (std::size_t i = count_requests ? 0 : 1; i < kSharedWindows; ++i) {
    const Counted& c = counted[i];
    const bool shared = leased && c.limit > 0;
    const std::uint64_t cap = shared ? s.leases[i].granted.used(c.id) : c.limit == 0 ? ~std::uint64_t{0} : c.limit;
    if (c.window.fill(c.id, c.n, cap)) continue;
    for (std::size_t j = count_requests ? 0 : 1; j < i; ++j)
      counted[j].window.adjust(counted[j].id, -static_cast<std::int64_t>(counted[j].n));
    if (a.holds_slot) s.inflight.fetch_sub(1, std::memory_order_relaxed);
    a.holds_slot = false;
    const std::uint64_t lacking = c.n - std::min(c.n, left(cap, c.window.used(c.id)));
    if (shared && !exhausted(s.leases[i], c.id, lacking)) {
      std::uint64_t want = s.leases[i].want.load(std::memory_order_relaxed);
      while (want < lacking && !s.leases[i].want.compare_exchange_weak(want, lacking, std::memory_order_relaxed)) {
      }
      ask_lease(s, *store);
      a.wait_lease = true;
      return a;
    }
    refuse(c.why, c.end_ms);
    return a;
  }
  if (leased) {  // lease ahead of need, so that the next requests need not wait
    for (std::size_t i = 0; i < kSharedWindows; ++i) {
      const Counted& c = counted[i];
      if (c.limit == 0) continue;
      const Lease& lease = s.leases[i];
      const std::uint64_t chunk = lease.last_chunk.load(std::memory_order_relaxed);
      if (wants_refill(lease.granted.used(c.id), c.window.used(c.id), chunk) && !exhausted(lease, c.id, 1)) {
        ask_lease(s, *store);
        break;
      }
    }
  }
  s.admitted.fetch_add(1, std::memory_order_relaxed);
  Admission taken = left_in_minute(s, l, w, leased);
  taken.charged = estimate;
  taken.holds_slot = a.holds_slot;
  taken.lease_answers = a.lease_answers;
  return taken;
}

Admission Limiter::standing(const KeyState& s, const config::KeyLimits& l, const StoreLink* store) const {
  return left_in_minute(s, l, windows_at(unix_ms()), store && store->connected());
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
