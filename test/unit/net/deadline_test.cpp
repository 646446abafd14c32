// The worker's deadline wheel: deadlines fire once, never early, at most a couple of ticks late,
// also when moved later or earlier, and never once cleared.
#include "net/deadline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <vector>

namespace mp = modelgate::net;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Probe {
  Clock::time_point fired_at{};
  int fired = 0;
  static void fire(void* self) {
    auto& p = *static_cast<Probe*>(self);
    p.fired_at = Clock::now();
    ++p.fired;
  }
};

constexpr auto kSlack = 3 * mp::DeadlineWheel::kTick + 20ms;  // loaded CI machines are slow to wake

class DeadlineWheel : public ::testing::Test {
 protected:
  DeadlineWheel() { wheel.start(io.get_executor()); }
  // Runs the loop for `d` or until no deadline is left.
  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }
  // Sets a deadline at `due` and runs until `run`; checks it fired once, on time.
  void expect_fires_at(mp::Deadline& d, const Probe& p, Clock::time_point due, std::chrono::milliseconds run) {
    run_for(run);
    EXPECT_EQ(p.fired, 1);
    EXPECT_GE(p.fired_at, due);
    EXPECT_LT(p.fired_at - due, kSlack);
  }

  boost::asio::io_context io;
  mp::DeadlineWheel wheel;
};

}  // namespace

TEST_F(DeadlineWheel, FiresOnceNotEarly) {
  Probe p;
  mp::Deadline d(wheel, &Probe::fire, &p);
  const auto due = Clock::now() + 50ms;
  d.at(due);
  expect_fires_at(d, p, due, 200ms);
  EXPECT_TRUE(d.expired());
  EXPECT_EQ(wheel.filed(), 0u);
}

TEST_F(DeadlineWheel, MovedLaterFiresAtTheNewTime) {
  Probe p;
  mp::Deadline d(wheel, &Probe::fire, &p);
  d.after(20ms);
  const auto due = Clock::now() + 120ms;
  d.at(due);  // stays filed at 20 ms, re-filed when that slot comes round
  expect_fires_at(d, p, due, 300ms);
}

TEST_F(DeadlineWheel, MovedEarlierFiresAtTheNewTime) {
  Probe p;
  mp::Deadline d(wheel, &Probe::fire, &p);
  d.after(10s);
  const auto due = Clock::now() + 30ms;
  d.at(due);
  expect_fires_at(d, p, due, 150ms);
}

TEST_F(DeadlineWheel, ClearedNeverFires) {
  Probe p;
  mp::Deadline d(wheel, &Probe::fire, &p);
  d.after(20ms);
  d.clear();
  run_for(100ms);
  EXPECT_EQ(p.fired, 0);
  EXPECT_FALSE(d.expired());
}

TEST_F(DeadlineWheel, LongerThanOneTurn) {
  Probe p;
  mp::Deadline d(wheel, &Probe::fire, &p);
  const auto turn = mp::DeadlineWheel::kTick * mp::DeadlineWheel::kSlots;
  const auto due = Clock::now() + turn + 100ms;  // lands in a slot the wheel passes once first
  d.at(due);
  expect_fires_at(d, p, due, std::chrono::duration_cast<std::chrono::milliseconds>(turn) + 400ms);
}

TEST_F(DeadlineWheel, ManyDeadlinesEachAtItsTime) {
  constexpr int kCount = 200;
  std::vector<Probe> probes(kCount);
  std::vector<std::unique_ptr<mp::Deadline>> deadlines;
  std::vector<Clock::time_point> due(kCount);
  const auto start = Clock::now();
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
  }
  EXPECT_EQ(wheel.filed(), 0u);
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
