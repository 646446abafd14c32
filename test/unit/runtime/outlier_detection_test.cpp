// Passive health with a driven clock: ejection length doubles while a server keeps failing, the
// multiplier decays after quiet periods, an ejection ends by itself or when an active check
// passes, and maxEjectionPercent keeps part of the pool in.
#include "runtime/outlier_detection.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "net/clock.h"

namespace mb = modelgate::balancing;
namespace mh = modelgate::runtime;
using namespace std::chrono_literals;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

mb::ServerList two_servers() {
  mb::ServerList list;
  for (int i = 0; i < 2; ++i) {
    modelgate::config::Server s;
    s.url = "http://127.0.0.1:" + std::to_string(9100 + i);
    s.host = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(9100 + i);
    list.push_back(std::make_shared<mb::ServerState>(s));
  }
  return list;
}

modelgate::config::PassiveHealth policy() {
  modelgate::config::PassiveHealth p;
  p.consecutiveFailures = 1;
  p.baseEjection = 10s;
  return p;
}

// Ejects `s` at `now` and returns how long the ejection lasts, in seconds.
std::int64_t eject(mb::ServerState& s, const mb::ServerList& pool, std::int64_t now) {
  EXPECT_TRUE(mh::record_failure(s, policy(), pool, now));
  return (s.ejected_until_ns.load() - now) / kSecond;
}

}  // namespace

TEST(OutlierDetection, EjectionDoublesWhileTheServerKeepsFailing) {
  auto pool = two_servers();
  auto& s = *pool[0];
  std::int64_t now = 1000 * kSecond;
  std::int64_t last = 0;
  for (std::int64_t expected : {10, 20, 40, 80, 160, 320, 320}) {
    last = eject(s, pool, now);
    EXPECT_EQ(last, expected);
    now = s.ejected_until_ns.load();  // fails again the moment it is back
  }
}

TEST(OutlierDetection, MultiplierDecaysOneStepPerBaseEjectionOfQuiet) {
  auto pool = two_servers();
  auto& s = *pool[0];
  std::int64_t now = 1000 * kSecond;
  for (int i = 0; i < 4; ++i) {  // 10, 20, 40, 80 s
    eject(s, pool, now);
    now = s.ejected_until_ns.load();
  }
  // Back for 25 s (two steps of 10 s): the next ejection is 160 s / 4 = 40 s, not 160 s.
  EXPECT_EQ(eject(s, pool, now + 25 * kSecond), 40);
  now = s.ejected_until_ns.load();
  // A long quiet period forgets every past ejection.
  EXPECT_EQ(eject(s, pool, now + 3600 * kSecond), 10);
}

TEST(OutlierDetection, EndEjectionLetsTheServerBackAndStartsTheQuietPeriod) {
  auto pool = two_servers();
  auto& s = *pool[0];
  const std::int64_t now = 1000 * kSecond;
  eject(s, pool, now);
  EXPECT_TRUE(s.ejected(now + kSecond));
  EXPECT_TRUE(mh::end_ejection(s, now + kSecond));
  EXPECT_FALSE(s.ejected(now + kSecond));
  EXPECT_FALSE(mh::end_ejection(s, now + kSecond));  // nothing left to end
  // Failing again at once: the multiplier has not decayed (no quiet yet), 20 s.
  EXPECT_EQ(eject(s, pool, now + kSecond), 20);
}

TEST(OutlierDetection, AnEjectionEndsByItselfAfterItsTime) {
  modelgate::net::ManualClock clock;
  const modelgate::net::Clock now(clock);
  auto pool = two_servers();
  auto& s = *pool[0];
  ASSERT_TRUE(mh::record_failure(s, policy(), pool, now));
  clock.advance(10s - 1ns);
  EXPECT_TRUE(s.ejected(now.now_ns()));
  clock.advance(1ns);
  EXPECT_FALSE(s.ejected(now.now_ns())) << "still ejected after baseEjection";
}

TEST(OutlierDetection, MaxEjectionPercentKeepsPartOfThePoolIn) {
  modelgate::net::ManualClock clock;
  const modelgate::net::Clock now(clock);
  auto pool = two_servers();  // 50 % of 2: one may be out at a time
  ASSERT_TRUE(mh::record_failure(*pool[0], policy(), pool, now));
  EXPECT_FALSE(mh::record_failure(*pool[1], policy(), pool, now)) << "the whole pool was ejected";
  EXPECT_FALSE(pool[1]->ejected(now.now_ns()));
  // Once the first is back, the second may go.
  clock.advance(10s);
  EXPECT_TRUE(mh::record_failure(*pool[1], policy(), pool, now));
}

TEST(OutlierDetection, FailuresBelowTheThresholdEjectNothingAndASuccessResetsThem) {
  modelgate::net::ManualClock clock;
  const modelgate::net::Clock now(clock);
  auto pool = two_servers();
  auto p = policy();
  p.consecutiveFailures = 3;
  auto& s = *pool[0];
  EXPECT_FALSE(mh::record_failure(s, p, pool, now));
  EXPECT_FALSE(mh::record_failure(s, p, pool, now));
  mh::record_success(s);
  EXPECT_FALSE(mh::record_failure(s, p, pool, now));
  EXPECT_FALSE(mh::record_failure(s, p, pool, now));
  EXPECT_FALSE(s.ejected(now.now_ns()));
  EXPECT_TRUE(mh::record_failure(s, p, pool, now));
}
