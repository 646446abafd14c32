// The maxConnections waiting room of a worker: a wake goes to the waiter of its service that goes
// first (priority class, then the fair queue's start tag, then arrival), once; a waiter that
// nobody wakes ends at `until` or at the shared fallback instant, and leaves its place.
#include "proxy/slot_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace modelgate::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = SlotQueue::Clock;

net::Task<void> wait_into(SlotQueue& q, const void* key, Clock::time_point until, std::optional<bool>& woken,
                          Ticket ticket = {}) {
  SlotQueue::Place place(q, key, ticket);
  woken = co_await q.wait(place, until);
  if (*woken) place.served();
}

// Waiters queued on one service in the order given; wakes them one by one and returns the order
// in which their names came out.
struct Line {
  asio::io_context io;
  SlotQueue q;
  const int service = 0;
  std::vector<std::string> served;

  net::Task<void> waiter(std::string name, Ticket ticket) {
    SlotQueue::Place place(q, &service, ticket);
    while (!co_await q.wait(place, Clock::now() + 60s)) {
    }
    place.served();
    served.push_back(std::move(name));
  }
  void add(std::string name, Ticket ticket) {
    asio::co_spawn(io, waiter(std::move(name), ticket), asio::detached);
    io.poll();
  }
  std::vector<std::string> wake_all() {
    while (q.wake(&service)) io.poll();
    return served;
  }
};

TEST(SlotQueue, AWakeGoesToTheOldestWaiterOfItsServiceOnce) {
  asio::io_context io;
  SlotQueue q;
  const int service_a = 0, service_b = 0;
  const auto later = Clock::now() + 10s;
  std::vector<std::optional<bool>> woken(3);
  asio::co_spawn(io, wait_into(q, &service_a, later, woken[0]), asio::detached);
  asio::co_spawn(io, wait_into(q, &service_b, later, woken[1]), asio::detached);
  asio::co_spawn(io, wait_into(q, &service_a, later, woken[2]), asio::detached);
  io.poll();
  EXPECT_EQ(q.waiting(), 3u);

  EXPECT_TRUE(q.wake(&service_a));
  io.poll();
  EXPECT_EQ(woken[0], true) << "the oldest waiter of service a";
  EXPECT_FALSE(woken[2].has_value());
  EXPECT_FALSE(woken[1].has_value()) << "a waiter of another service";

  EXPECT_TRUE(q.wake(&service_a));
  EXPECT_FALSE(q.wake(&service_a)) << "the one left was woken already";
  io.poll();
  EXPECT_EQ(woken[2], true);
  EXPECT_EQ(q.waiting(), 1u);
  EXPECT_TRUE(q.wake(&service_b));
  io.poll();
  EXPECT_EQ(woken[1], true);
  EXPECT_EQ(q.waiting(), 0u);
}

TEST(SlotQueue, AHigherClassGoesFirstWhateverItsArrival) {
  Line line;
  line.add("batch-1", {Priority::batch, 1, 10});
  line.add("batch-2", {Priority::batch, 2, 10});
  line.add("default", {Priority::normal, 3, 10'000});
  line.add("interactive", {Priority::interactive, 4, 100'000});
  line.add("batch-3", {Priority::batch, 1, 10});
  EXPECT_EQ(line.wake_all(), (std::vector<std::string>{"interactive", "default", "batch-1", "batch-2", "batch-3"}));
}

// Tenant 1 queued five long prompts before tenant 2 came with three short ones: tenant 2 is not
// served after all of tenant 1's (as FIFO would) but as its tokens allow.
TEST(SlotQueue, ALightTenantPassesAFloodOfLongPrompts) {
  Line line;
  for (const char* n : {"A1", "A2", "A3", "A4", "A5"}) line.add(n, {Priority::normal, 1, 1000});
  for (const char* n : {"B1", "B2", "B3"}) line.add(n, {Priority::normal, 2, 100});
  EXPECT_EQ(line.wake_all(), (std::vector<std::string>{"A1", "B1", "B2", "B3", "A2", "A3", "A4", "A5"}));
}

// Both tenants keep four requests waiting, tenant 1's four times as long: of the requests served,
// tenant 2 gets four for each of tenant 1's (equal tokens), not one for one.
TEST(SlotQueue, BackloggedTenantsShareByTokens) {
  Line line;
  for (int i = 0; i < 4; ++i) {
    line.add("A", {Priority::normal, 1, 400});
    line.add("B", {Priority::normal, 2, 100});
  }
  int a = 0, b = 0;
  for (int served = 0; served < 100; ++served) {
    ASSERT_TRUE(line.q.wake(&line.service));
    line.io.poll();
    const std::string who = line.served.back();
    (who == "A" ? a : b) += 1;
    line.add(who, {Priority::normal, who == "A" ? 1u : 2u, who == "A" ? 400u : 100u});  // backlogged
  }
  EXPECT_EQ(a + b, 100);
  EXPECT_NEAR(b, 4 * a, 5) << "A served " << a << ", B served " << b;
}

// A waiter that gives up leaves the line: it is never woken, and its tokens are not charged.
TEST(SlotQueue, AWaiterThatLeavesIsNotWokenNorCharged) {
  Line line;
  std::optional<bool> gave_up;
  line.add("A1", {Priority::normal, 1, 100});
  asio::co_spawn(line.io, wait_into(line.q, &line.service, Clock::now() + 1ms, gave_up, {Priority::normal, 2, 5000}),
                 asio::detached);
  line.io.poll();
  EXPECT_EQ(line.q.waiting(), 2u);
  EXPECT_EQ(line.q.share().finish_tag(&line.service, {Priority::normal, 2, 0}), 5000u);
  while (!gave_up) line.io.run_one_for(1s);  // its bound passes (A1 only re-waits)
  EXPECT_EQ(gave_up, false);
  EXPECT_EQ(line.q.waiting(), 1u);
  EXPECT_EQ(line.q.share().finish_tag(&line.service, {Priority::normal, 2, 0}), 0u) << "its cost given back";
  EXPECT_EQ(line.wake_all(), (std::vector<std::string>{"A1"}));
  EXPECT_EQ(line.q.share().entries(), 0u) << "the line emptied: nothing kept";
}

// Between a wake and the woken waiter's pick the freed slot is on its way to it: another waiter's
// fallback sleeps on instead of picking, and a request that has not waited is told to queue.
TEST(SlotQueue, NobodyTakesASlotOnItsWayToTheWokenWaiter) {
  asio::io_context io;
  SlotQueue q;
  const int service = 0, other = 0;
  std::optional<Clock::time_point> first_left, second_woke;
  auto first = [&]() -> net::Task<void> {
    SlotQueue::Place place(q, &service, {});
    if (!co_await q.wait(place, Clock::now() + 10s)) co_return;
    net::Timer picking(io, 120ms);  // woken, not picked yet: longer than a fallback
    co_await picking.async_wait(net::try_op);
    first_left = Clock::now();
  };
  auto second = [&]() -> net::Task<void> {
    SlotQueue::Place place(q, &service, {});
    co_await q.wait(place, Clock::now() + 10s);
    second_woke = Clock::now();
  };
  asio::co_spawn(io, first(), asio::detached);
  asio::co_spawn(io, second(), asio::detached);
  io.poll();
  EXPECT_FALSE(q.handing_over(&service));
  ASSERT_TRUE(q.wake(&service));
  EXPECT_TRUE(q.handing_over(&service));
  EXPECT_FALSE(q.handing_over(&other));
  while (!second_woke) io.run_one_for(1s);
  ASSERT_TRUE(first_left.has_value()) << "the second waiter's fallback ended while the slot was on its way";
  EXPECT_GE(*second_woke, *first_left);
  EXPECT_FALSE(q.handing_over(&service));
}

TEST(SlotQueue, AWaiterNobodyWakesEndsAtItsBound) {
  asio::io_context io;
  SlotQueue q;
  const int service = 0;
  std::optional<bool> woken;
  const auto start = Clock::now();
  asio::co_spawn(io, wait_into(q, &service, start + 5ms, woken), asio::detached);
  io.run_for(2s);
  EXPECT_EQ(woken, false);
  // Its bound, or the fallback instant when that comes first (in one run of ten it is under 5 ms
  // away).
  EXPECT_GE(Clock::now(), std::min(start + 5ms, SlotQueue::fallback_after(start)));
  EXPECT_EQ(q.waiting(), 0u);
}

TEST(SlotQueue, FallbackEndsOnTheSameInstantForEveryWaiter) {
  const auto grid = std::chrono::duration_cast<Clock::duration>(SlotQueue::kFallback);
  const Clock::time_point base((Clock::now().time_since_epoch() / grid) * grid);
  const auto at = SlotQueue::fallback_after(base + 1ms);
  EXPECT_EQ(SlotQueue::fallback_after(base + 30ms), at) << "waiters that came at different times";
  EXPECT_EQ(at, base + grid);
  EXPECT_EQ(SlotQueue::fallback_after(base), base + grid) << "always ahead, never now";
}

}  // namespace
}  // namespace modelgate::proxy
