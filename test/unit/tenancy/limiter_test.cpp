// The per-key limits at their edges, on an injected clock: exactly N admitted and N+1 refused, the
// window rolling over at the minute, day and month boundaries (UTC), the token estimate corrected
// by usage, concurrency slots, and no false refusal when many threads race for the last slots.
#include <atomic>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tenancy/limiter.h"

namespace modelgate::tenancy {
namespace {

using namespace std::chrono_literals;

// 2026-03-31 23:59:00 UTC: the last minute of a day and of a month.
constexpr std::int64_t kEndOfMarch = 1'775'001'540'000;

struct Fixture {
  net::ManualClock manual;
  Limiter limiter{net::Clock(manual), kEndOfMarch};
  KeyState state;
};

TEST(Limiter, ExactlyNRequestsPerMinuteThenRefusedUntilTheNextMinute) {
  Fixture f;
  const config::KeyLimits limits{.requestsPerMinute = 3};
  for (int i = 0; i < 3; ++i) {
    const Admission a = f.limiter.admit(f.state, limits, 1);
    ASSERT_EQ(a.refused, Limit::none) << i;
    EXPECT_EQ(a.remaining_requests, 2u - i);
    EXPECT_EQ(a.reset_requests_ms, 60'000);
  }
  f.manual.advance(59'999ms);
  const Admission refused = f.limiter.admit(f.state, limits, 1);
  EXPECT_EQ(refused.refused, Limit::requests);
  EXPECT_EQ(refused.retry_after_ms, 1);
  EXPECT_EQ(f.state.refused[static_cast<int>(Limit::requests)].load(), 1u);
  f.manual.advance(1ms);  // 00:00:00: a new minute (and day, and month)
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1).refused, Limit::none);
}

TEST(Limiter, TokensPerMinuteRefuseAnEstimateThatDoesNotFit) {
  Fixture f;
  const config::KeyLimits limits{.tokensPerMinute = 100};
  EXPECT_EQ(f.limiter.admit(f.state, limits, 60).refused, Limit::none);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 40).remaining_tokens, 0u);  // exactly the limit
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1).refused, Limit::tokens);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 101).refused, Limit::tokens);
}

TEST(Limiter, UsageCorrectsTheEstimate) {
  Fixture f;
  const config::KeyLimits limits{.tokensPerMinute = 100};
  const Admission a = f.limiter.admit(f.state, limits, 50);
  f.limiter.finish(f.state, limits, a, 10, 5);  // really 15 tokens: 35 come back
  const Admission b = f.limiter.admit(f.state, limits, 85);
  EXPECT_EQ(b.refused, Limit::none);
  EXPECT_EQ(b.remaining_tokens, 0u);
  f.limiter.finish(f.state, limits, b, 80, 100);  // really 180: the window is over its limit
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1).refused, Limit::tokens);
  EXPECT_EQ(f.state.prompt_tokens.load(), 90u);
  EXPECT_EQ(f.state.completion_tokens.load(), 105u);
}

TEST(Limiter, NoUsageLeavesTheEstimateCharged) {
  Fixture f;
  const config::KeyLimits limits{.tokensPerMinute = 100};
  const Admission a = f.limiter.admit(f.state, limits, 100);
  f.limiter.finish(f.state, limits, a, std::nullopt, std::nullopt);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1).refused, Limit::tokens);
}

TEST(Limiter, DayBudgetRollsOverAtMidnightUtcAndMonthOnTheFirst) {
  Fixture f;
  const config::KeyLimits day{.tokensPerDay = 10};
  EXPECT_EQ(f.limiter.admit(f.state, day, 10).refused, Limit::none);
  const Admission refused = f.limiter.admit(f.state, day, 1);
  EXPECT_EQ(refused.refused, Limit::day);
  EXPECT_EQ(refused.retry_after_ms, 60'000);  // until 00:00 UTC
  f.manual.advance(60s);
  EXPECT_EQ(f.limiter.admit(f.state, day, 10).refused, Limit::none);

  KeyState month_state;
  const config::KeyLimits month{.tokensPerMonth = 10};
  f.manual.advance(-60s);
  EXPECT_EQ(f.limiter.admit(month_state, month, 10).refused, Limit::none);
  f.manual.advance(30s);
  EXPECT_EQ(f.limiter.admit(month_state, month, 1).refused, Limit::month);
  f.manual.advance(30s);  // 1 April
  EXPECT_EQ(f.limiter.admit(month_state, month, 10).refused, Limit::none);
}

TEST(Limiter, ARefusalGivesBackWhatTheEarlierLimitsTook) {
  Fixture f;
  const config::KeyLimits limits{.requestsPerMinute = 2, .tokensPerMinute = 10, .concurrency = 5};
  EXPECT_EQ(f.limiter.admit(f.state, limits, 11).refused, Limit::tokens);
  EXPECT_EQ(f.state.inflight.load(), 0u);
  const Admission a = f.limiter.admit(f.state, limits, 5);
  const Admission b = f.limiter.admit(f.state, limits, 5);
  EXPECT_EQ(a.refused, Limit::none);
  EXPECT_EQ(b.refused, Limit::none);  // the refused request did not use one of the two
}

TEST(Limiter, ConcurrencySlotsAreTakenAndGivenBack) {
  Fixture f;
  const config::KeyLimits limits{.concurrency = 2};
  const Admission a = f.limiter.admit(f.state, limits, 1);
  const Admission b = f.limiter.admit(f.state, limits, 1);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1).refused, Limit::concurrency);
  f.limiter.finish(f.state, limits, a, std::nullopt, std::nullopt);
  const Admission c = f.limiter.admit(f.state, limits, 1);
  EXPECT_EQ(c.refused, Limit::none);
  f.limiter.finish(f.state, limits, b, std::nullopt, std::nullopt);
  f.limiter.finish(f.state, limits, c, std::nullopt, std::nullopt);
  EXPECT_EQ(f.state.inflight.load(), 0u);
}

// Eight threads race for 1000 requests of a minute: exactly 1000 are admitted, never fewer.
TEST(Limiter, ManyThreadsGetExactlyTheLimitNeverAFalseRefusal) {
  Fixture f;
  const config::KeyLimits limits{.requestsPerMinute = 1000, .tokensPerMinute = 10'000'000, .concurrency = 100000};
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        if (f.limiter.admit(f.state, limits, 7).refused == Limit::none) admitted.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 1000);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 7).refused, Limit::requests);
}

// A thread that read the clock just before a minute ended counts into the new window rather than
// wipe it.
TEST(Window, AnOlderWindowNumberCountsIntoTheNewerOne) {
  Window w;
  EXPECT_TRUE(w.take(1000, 5, 0));
  EXPECT_TRUE(w.take(999, 1, 0));
  EXPECT_EQ(w.used(1000), 6u);
  EXPECT_EQ(w.used(999), 6u);
  w.adjust(999, -2);
  EXPECT_EQ(w.used(1000), 4u);
  EXPECT_TRUE(w.take(1001, 1, 0));
  EXPECT_EQ(w.used(1001), 1u);
}

TEST(Limiter, ResetDurationsAreWrittenAsOpenAiDoes) {
  EXPECT_EQ(format_reset(20), "20ms");
  EXPECT_EQ(format_reset(1000), "1s");
  EXPECT_EQ(format_reset(1500), "1.5s");
  EXPECT_EQ(format_reset(360'000), "6m0s");
  EXPECT_EQ(format_reset(61'250), "1m1.25s");
  EXPECT_EQ(format_reset(3'723'000), "1h2m3s");
}

TEST(Limiter, WindowsAreAlignedOnUtc) {
  const Windows w = windows_at(kEndOfMarch + 30'000);
  EXPECT_EQ(w.minute_end_ms - w.unix_ms, 30'000);
  EXPECT_EQ(w.day_end_ms - w.unix_ms, 30'000);
  EXPECT_EQ(w.month_end_ms - w.unix_ms, 30'000);
  const Windows april = windows_at(w.month_end_ms);
  EXPECT_EQ(april.month, w.month + 1);
  EXPECT_EQ(april.month_end_ms - april.unix_ms, 30ll * 86'400'000);
}

}  // namespace
}  // namespace modelgate::tenancy
