// The lease arithmetic of shared limits (lease.h) and the limiter admitting within a lease, on an
// injected clock: chunks that shrink as a window fills, a request that waits for a lease rather
// than being refused, a refusal once the store has nothing left, the lease of one minute not
// admitting in the next, and the failure policies while the store is unreachable.
#include <gtest/gtest.h>

#include "tenancy/limiter.h"

namespace modelgate::tenancy {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kStart = 1'775'001'540'000;  // 2026-03-31 23:59:00 UTC

class FakeStore final : public StoreLink {
 public:
  explicit FakeStore(bool fail_open) : StoreLink(fail_open) {}
  void set_connected(bool up) { connected_ = up; }
  void wake() override { ++wakes; }
  int wakes = 0;
};

struct Fixture {
  explicit Fixture(bool fail_open = true) : store(fail_open) { store.set_connected(true); }
  net::ManualClock manual;
  Limiter limiter{net::Clock(manual), kStart};
  KeyState state;
  FakeStore store;
  std::uint64_t minute() const { return windows_at(limiter.unix_ms()).minute; }
  // What the store's thread does with an answer: this gateway holds `granted`, the store has `left`.
  void answer(Shared w, std::uint64_t granted, std::uint64_t left, std::uint64_t chunk) {
    Lease& l = state.leases[static_cast<std::size_t>(w)];
    l.granted.restore(minute(), granted);
    l.store_left.restore(minute(), left + 1);
    l.last_chunk = chunk;
    state.refill = false;
    ++state.lease_answers;
  }
};

TEST(LeaseArithmetic, ChunksShrinkAsTheWindowFillsAndCoverWhatARequestLacks) {
  EXPECT_EQ(lease_request(1000, 0, 1, 0), 500u);    // unknown: half the limit for the only gateway
  EXPECT_EQ(lease_request(1000, 501, 2, 0), 125u);  // 500 left, two gateways: a quarter each
  EXPECT_EQ(lease_request(1000, 41, 2, 0), 10u);
  EXPECT_EQ(lease_request(1000, 2, 2, 0), 1u);       // the last one
  EXPECT_EQ(lease_request(1000, 1, 4, 0), 1u);       // nothing left: the store answers 0
  EXPECT_EQ(lease_request(1000, 41, 2, 300), 300u);  // what the waiting request lacks
  EXPECT_EQ(lease_request(100, 0, 1, 5000), 100u);   // never more than the limit
  EXPECT_EQ(lease_request(1000, 0, 0, 0), 500u);     // no gateway seen yet counts as one
}

TEST(LeaseArithmetic, RefillWhenBelowHalfTheLastChunk) {
  EXPECT_FALSE(wants_refill(100, 40, 100));  // 60 held of a 100 chunk
  EXPECT_TRUE(wants_refill(100, 51, 100));   // 49 held
  EXPECT_TRUE(wants_refill(10, 10, 0));      // nothing held
  EXPECT_FALSE(wants_refill(1, 0, 1));       // the last single one is held
}

TEST(SharedLimiter, WaitsForALeaseThenAdmitsWithinIt) {
  Fixture f;
  const config::KeyLimits limits{.requestsPerMinute = 10};
  Admission a = f.limiter.admit(f.state, limits, 1, &f.store);
  EXPECT_TRUE(a.wait_lease);  // nothing leased yet: no refusal
  EXPECT_EQ(a.refused, Limit::none);
  EXPECT_EQ(f.store.wakes, 1);
  EXPECT_EQ(f.state.requests_minute.used(f.minute()), 0u);  // nothing kept while waiting
  EXPECT_EQ(f.state.leases[0].want.load(), 1u);
  f.answer(Shared::requests, 4, 6, 4);
  for (int i = 0; i < 4; ++i) {
    a = f.limiter.admit(f.state, limits, 1, &f.store);
    ASSERT_EQ(a.refused, Limit::none) << i;
    ASSERT_FALSE(a.wait_lease) << i;
  }
  EXPECT_EQ(f.store.wakes, 2);  // asked again ahead of need once below half the chunk, once
  EXPECT_TRUE(f.limiter.admit(f.state, limits, 1, &f.store).wait_lease);  // the lease is used up
}

TEST(SharedLimiter, RefusesOnceTheStoreHasNothingLeft) {
  Fixture f;
  const config::KeyLimits limits{.requestsPerMinute = 10};
  f.answer(Shared::requests, 2, 0, 1);  // the others hold the other 8
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1, &f.store).refused, Limit::none);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1, &f.store).refused, Limit::none);
  const Admission refused = f.limiter.admit(f.state, limits, 1, &f.store);
  EXPECT_EQ(refused.refused, Limit::requests);
  EXPECT_FALSE(refused.wait_lease);
  EXPECT_EQ(refused.retry_after_ms, 60'000);
  EXPECT_EQ(refused.remaining_requests, 0u);
}

TEST(SharedLimiter, TokensThatDoNotFitWhatTheStoreHasLeftAreRefusedAtOnce) {
  Fixture f;
  const config::KeyLimits limits{.tokensPerMinute = 1000};
  f.answer(Shared::tokens, 100, 50, 100);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 90, &f.store).refused, Limit::none);
  EXPECT_TRUE(f.limiter.admit(f.state, limits, 50, &f.store).wait_lease);  // lacks 40, the store has 50
  EXPECT_EQ(f.limiter.admit(f.state, limits, 70, &f.store).refused, Limit::tokens);  // lacks 60
}

TEST(SharedLimiter, ALeaseOfOneMinuteAdmitsNothingInTheNext) {
  Fixture f;
  const config::KeyLimits limits{.requestsPerMinute = 10};
  f.answer(Shared::requests, 5, 5, 5);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1, &f.store).refused, Limit::none);
  f.manual.advance(60s);
  EXPECT_TRUE(f.limiter.admit(f.state, limits, 1, &f.store).wait_lease);
}

TEST(SharedLimiter, UnreachableStoreFailOpenUsesThisGatewaysOwnLimit) {
  Fixture f(true);
  f.store.set_connected(false);
  const config::KeyLimits limits{.requestsPerMinute = 3};
  for (int i = 0; i < 3; ++i) EXPECT_EQ(f.limiter.admit(f.state, limits, 1, &f.store).refused, Limit::none);
  EXPECT_EQ(f.limiter.admit(f.state, limits, 1, &f.store).refused, Limit::requests);
  EXPECT_EQ(f.store.wakes, 0);
}

TEST(SharedLimiter, UnreachableStoreFailClosedRefusesEveryKeyedRequest) {
  Fixture f(false);
  f.store.set_connected(false);
  const config::KeyLimits limits{.requestsPerMinute = 3, .concurrency = 2};
  const Admission a = f.limiter.admit(f.state, limits, 1, &f.store);
  EXPECT_TRUE(a.store_down);
  EXPECT_FALSE(a.holds_slot);
  EXPECT_EQ(f.state.inflight.load(), 0u);
}

}  // namespace
}  // namespace modelgate::tenancy
