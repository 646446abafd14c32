// Active-check hysteresis with a driven clock and no sockets: fall failed checks in a row take a
// healthy server out, rise passed ones bring it back, a result of the other kind restarts the
// count, and a passed check ends a passive-health ejection at the clock's time.
#include "health/check_tally.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "net/clock.h"
#include "runtime/outlier_detection.h"

namespace mb = modelgate::balancing;
namespace mc = modelgate::config;
namespace mh = modelgate::health;
namespace mn = modelgate::net;
using namespace std::chrono_literals;
using Change = mh::CheckTally::Change;

namespace {

std::shared_ptr<mb::ServerState> server(int port = 9200) {
  mc::Server s;
  s.url = "http://127.0.0.1:" + std::to_string(port);
  s.host = "127.0.0.1";
  s.port = static_cast<std::uint16_t>(port);
  return std::make_shared<mb::ServerState>(s);
}

mc::HealthCheck settings(int rise, int fall) {
  mc::HealthCheck hc;
  hc.enabled = true;
  hc.rise = rise;
  hc.fall = fall;
  return hc;
}

const std::string kPass;
const std::string kFail = "GET /health: connect: Connection refused";

}  // namespace

TEST(CheckTally, FallFailuresInARowTakeAHealthyServerOut) {
  auto s = server();
  mh::CheckTally tally;
  const auto hc = settings(2, 3);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kFail), Change::none);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kFail), Change::none);
  EXPECT_TRUE(s->healthy);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kFail), Change::down);
  EXPECT_FALSE(s->healthy);
  EXPECT_EQ(tally.failures(), 3);
  EXPECT_EQ(s->info().last_error, "health check: " + kFail);
  // Further failures change nothing.
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kFail), Change::none);
  EXPECT_FALSE(s->healthy);
}

TEST(CheckTally, OnePassBetweenFailuresRestartsTheCount) {
  auto s = server();
  mh::CheckTally tally;
  const auto hc = settings(2, 3);
  for (int round = 0; round < 5; ++round) {
    tally.record(*s, hc, true, "pool", kFail);
    tally.record(*s, hc, true, "pool", kFail);
    EXPECT_EQ(tally.record(*s, hc, true, "pool", kPass), Change::none);
    EXPECT_TRUE(s->healthy) << round;
  }
}

TEST(CheckTally, RisePassesInARowBringItBack) {
  auto s = server();
  mh::CheckTally tally;
  const auto hc = settings(3, 1);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kFail), Change::down);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kPass), Change::none);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kPass), Change::none);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kFail), Change::none);  // restarts the count
  EXPECT_FALSE(s->healthy);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kPass), Change::none);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kPass), Change::none);
  EXPECT_FALSE(s->healthy);
  EXPECT_EQ(tally.record(*s, hc, true, "pool", kPass), Change::up);
  EXPECT_TRUE(s->healthy);
  EXPECT_EQ(tally.successes(), 3);
}

TEST(CheckTally, APassedCheckEndsAnEjectionAtTheClocksTime) {
  mn::ManualClock clock;
  mb::ServerList pool{server(9200), server(9201)};
  auto& s = *pool[0];
  mc::PassiveHealth passive;
  passive.consecutiveFailures = 1;
  passive.baseEjection = 30s;
  ASSERT_TRUE(modelgate::runtime::record_failure(s, passive, pool, mn::Clock(clock).now_ns()));
  clock.advance(5s);
  ASSERT_TRUE(s.ejected(mn::Clock(clock).now_ns()));

  mh::CheckTally tally{mn::Clock(clock)};
  tally.record(s, settings(2, 3), true, "pool", kPass);
  EXPECT_FALSE(s.ejected(mn::Clock(clock).now_ns())) << "a passed check leaves the server ejected";
  // The quiet period starts now, 25 s before the ejection would have ended.
  EXPECT_EQ(s.ejected_until_ns.load(), mn::Clock(clock).now_ns());
}

TEST(CheckTally, EndOnActiveCheckFalseLeavesTheEjection) {
  mn::ManualClock clock;
  mb::ServerList pool{server(9200), server(9201)};
  auto& s = *pool[0];
  mc::PassiveHealth passive;
  passive.consecutiveFailures = 1;
  ASSERT_TRUE(modelgate::runtime::record_failure(s, passive, pool, mn::Clock(clock).now_ns()));
  clock.advance(1s);
  mh::CheckTally tally{mn::Clock(clock)};
  tally.record(s, settings(2, 3), false, "pool", kPass);
  EXPECT_TRUE(s.ejected(mn::Clock(clock).now_ns()));
}
