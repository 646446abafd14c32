// The maxConnections waiting room of a worker: a wake goes to the oldest waiter of its service,
// once; a waiter that nobody wakes ends at `until` or at the shared fallback instant.
#include "proxy/slot_queue.h"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <vector>

namespace modelgate::proxy {
namespace {

using namespace std::chrono_literals;
using Clock = SlotQueue::Clock;

net::Task<void> wait_into(SlotQueue& q, const void* key, Clock::time_point until, std::optional<bool>& woken) {
  woken = co_await q.wait(key, until);
}

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

TEST(SlotQueue, AWaiterNobodyWakesEndsAtItsBound) {
  asio::io_context io;
  SlotQueue q;
  const int service = 0;
  std::optional<bool> woken;
  const auto start = Clock::now();
  asio::co_spawn(io, wait_into(q, &service, start + 5ms, woken), asio::detached);
  io.run_for(2s);
  EXPECT_EQ(woken, false);
  EXPECT_GE(Clock::now() - start, 5ms);
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
