// The worker's deadline wheel, on a manual clock moved in steps: deadlines fire once, never
// early, at most one tick (plus one step) late, also when moved later or earlier, past a whole
// turn of the wheel and after a long stall, and never once cleared. One test runs the real timer.
#include "net/deadline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <vector>

#include "net/clock.h"

namespace mp = modelgate::net;
using namespace std::chrono_literals;
using Time = mp::SteadyTime;

namespace {

constexpr auto kStep = 1ms;
constexpr auto kLate = mp::DeadlineWheel::kTick + kStep;  // the most a deadline may fire late

struct Probe {
  const mp::ManualClock* clock = nullptr;
  Time fired_at{};
  int fired = 0;
  static void fire(void* self) {
    auto& p = *static_cast<Probe*>(self);
    if (p.clock) p.fired_at = p.clock->now();
    ++p.fired;
  }
};

class DeadlineWheel : public ::testing::Test {
 protected:
  Probe probe() { return Probe{&clock}; }
  Time now() const { return clock.now(); }
  // Moves the clock in steps of kStep for `d`, letting the wheel expire what is due after each.
  void run_for(std::chrono::nanoseconds d) {
    const auto until = clock.now() + d;
    while (clock.now() < until) {
      clock.advance(kStep);
      wheel.expire_due();
    }
  }
  // Runs for `run`; checks that `p` fired once, not before `due` and at most kLate after it.
  void expect_fires_at(const Probe& p, Time due, std::chrono::nanoseconds run) {
    run_for(run);
    EXPECT_EQ(p.fired, 1);
    EXPECT_GE(p.fired_at, due);
    EXPECT_LE(p.fired_at - due, kLate);
  }

  mp::ManualClock clock;
  mp::DeadlineWheel wheel{mp::Clock(clock)};
};

}  // namespace

TEST_F(DeadlineWheel, FiresOnceNotEarly) {
  Probe p = probe();
  mp::Deadline d(wheel, &Probe::fire, &p);
  const auto due = now() + 50ms;
  d.at(due);
  run_for(49ms);
  EXPECT_EQ(p.fired, 0) << "fired early";
  expect_fires_at(p, due, 200ms);
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(wheel.filed(), 0u);
}

TEST_F(DeadlineWheel, AfterCountsFromTheWheelsClock) {
  Probe p = probe();
  mp::Deadline d(wheel, &Probe::fire, &p);
  d.after(20ms);
  EXPECT_EQ(d.when(), now() + 20ms);
  expect_fires_at(p, now() + 20ms, 100ms);
}

TEST_F(DeadlineWheel, MovedLaterFiresAtTheNewTime) {
  Probe p = probe();
  mp::Deadline d(wheel, &Probe::fire, &p);
  d.after(20ms);
  const auto due = now() + 120ms;
  d.at(due);  // stays filed at 20 ms, re-filed when that slot comes round
  run_for(119ms);
  EXPECT_EQ(p.fired, 0) << "fired at its old time";
  expect_fires_at(p, due, 300ms);
}

TEST_F(DeadlineWheel, MovedEarlierFiresAtTheNewTime) {
  Probe p = probe();
  mp::Deadline d(wheel, &Probe::fire, &p);
  d.after(10s);
  const auto due = now() + 30ms;
  d.at(due);
  expect_fires_at(p, due, 150ms);
}

TEST_F(DeadlineWheel, ClearedNeverFires) {
  Probe p = probe();
  mp::Deadline d(wheel, &Probe::fire, &p);
  d.after(20ms);
  d.clear();
  run_for(100ms);
  EXPECT_EQ(p.fired, 0);
  EXPECT_FALSE(d.expired());
}

TEST_F(DeadlineWheel, LongerThanOneTurn) {
  Probe p = probe();
  mp::Deadline d(wheel, &Probe::fire, &p);
  const auto turn = mp::DeadlineWheel::kTick * mp::DeadlineWheel::kSlots;
  const auto due = now() + turn + 100ms;  // lands in a slot the wheel passes once first
  d.at(due);
  run_for(turn + 99ms);
  EXPECT_EQ(p.fired, 0) << "fired one turn early";
  expect_fires_at(p, due, 400ms);
}

TEST_F(DeadlineWheel, ManyDeadlinesEachAtItsTime) {
  constexpr int kCount = 200;
  std::vector<Probe> probes(kCount, probe());
  std::vector<std::unique_ptr<mp::Deadline>> deadlines;
  std::vector<Time> due(kCount);
  const auto start = now();
  for (int i = 0; i < kCount; ++i) {
    deadlines.push_back(std::make_unique<mp::Deadline>(wheel, &Probe::fire, &probes[i]));
    due[i] = start + std::chrono::milliseconds(i % 50 * 3);
    deadlines.back()->at(due[i]);
  }
  deadlines[7]->clear();
  deadlines[8].reset();  // destroyed while filed: unfiled, never called
  run_for(400ms);
  for (int i = 0; i < kCount; ++i) {
    if (i == 7 || i == 8) {
      EXPECT_EQ(probes[i].fired, 0) << i;
      continue;
    }
    EXPECT_EQ(probes[i].fired, 1) << i;
    EXPECT_GE(probes[i].fired_at, due[i]) << i;
    EXPECT_LE(probes[i].fired_at - due[i], kLate) << i;
  }
  EXPECT_EQ(wheel.filed(), 0u);
}

TEST_F(DeadlineWheel, AfterAStallLongerThanATurnEveryDueDeadlineFires) {
  std::vector<Probe> probes(3, probe());
  mp::Deadline early(wheel, &Probe::fire, &probes[0]);
  mp::Deadline late(wheel, &Probe::fire, &probes[1]);
  mp::Deadline later(wheel, &Probe::fire, &probes[2]);
  early.after(10ms);
  late.after(3s);
  later.after(30s);
  clock.advance(10s);  // the worker thread was stopped for longer than a turn
  wheel.expire_due();
  EXPECT_EQ(probes[0].fired, 1);
  EXPECT_EQ(probes[1].fired, 1);
  EXPECT_EQ(probes[2].fired, 0);
  EXPECT_EQ(wheel.filed(), 1u);
  const auto due = later.when();
  expect_fires_at(probes[2], due, 21s);
}

TEST_F(DeadlineWheel, SetAgainFromItsOwnCallback) {
  struct Again {
    mp::Deadline* d = nullptr;
    int fired = 0;
    static void fire(void* self) {
      auto& a = *static_cast<Again*>(self);
      if (++a.fired < 3) a.d->after(10ms);
    }
  } again;
  mp::Deadline d(wheel, &Again::fire, &again);
  again.d = &d;
  d.after(10ms);
  run_for(300ms);
  EXPECT_EQ(again.fired, 3);
}

TEST(DeadlineWheelLifetime, OutlivedByItsDeadlines) {
  Probe p;
  auto wheel = std::make_unique<mp::DeadlineWheel>();
  boost::asio::io_context io;
  wheel->start(io.get_executor());
  mp::Deadline d(*wheel, &Probe::fire, &p);
  d.after(1s);
  wheel.reset();  // the deadline is detached, not left pointing at a dead wheel
  d.after(2s);
  EXPECT_EQ(p.fired, 0);
}

// The real clock and the worker's timer: the wheel ticks by itself while a deadline is set and
// stops ticking (the loop runs out of work) once none is.
TEST(DeadlineWheelTimer, TicksByItselfOnTheSteadyClock) {
  struct Real {
    std::chrono::steady_clock::time_point fired_at{};
    int fired = 0;
    static void fire(void* self) {
      auto& r = *static_cast<Real*>(self);
      r.fired_at = std::chrono::steady_clock::now();
      ++r.fired;
    }
  } r;
  boost::asio::io_context io;
  mp::DeadlineWheel wheel;
  wheel.start(io.get_executor());
  mp::Deadline d(wheel, &Real::fire, &r);
  const auto due = std::chrono::steady_clock::now() + 30ms;
  d.at(due);
  io.run_for(10s);  // returns once nothing is filed
  EXPECT_EQ(r.fired, 1);
  EXPECT_GE(r.fired_at, due);
  EXPECT_EQ(wheel.filed(), 0u);
}
