// The tried set: one bit per pool index, inline for small pools, spilled beyond; and the pool
// honouring it for indices on both sides of the inline part.
#include "balancing/tried_set.h"

#include <gtest/gtest.h>

#include "balancing/pool.h"
#include "server_list.h"

namespace mb = modelgate::balancing;

TEST(TriedSet, InsertedIndicesAreFoundAndCountedOnce) {
  mb::TriedSet tried;
  EXPECT_TRUE(tried.empty());
  for (std::uint32_t i : {0u, 1u, 63u, 64u, 255u}) tried.insert(i);
  tried.insert(63);
  EXPECT_EQ(tried.size(), 5u);
  for (std::uint32_t i : {0u, 1u, 63u, 64u, 255u}) EXPECT_TRUE(tried.contains(i)) << i;
  for (std::uint32_t i : {2u, 62u, 65u, 128u, 254u, 256u, 100000u}) EXPECT_FALSE(tried.contains(i)) << i;
}

TEST(TriedSet, IndicesBeyondTheInlineBitsSpillAndAreFound) {
  mb::TriedSet tried;
  const std::uint32_t beyond = mb::TriedSet::kInline;
  for (std::uint32_t i : {beyond, beyond + 63, beyond + 64, 5000u}) tried.insert(i);
  EXPECT_EQ(tried.size(), 4u);
  for (std::uint32_t i : {beyond, beyond + 63, beyond + 64, 5000u}) EXPECT_TRUE(tried.contains(i)) << i;
  for (std::uint32_t i : {0u, beyond - 1, beyond + 1, 4999u, 5001u, 1u << 20})
    EXPECT_FALSE(tried.contains(i)) << i;
}

TEST(TriedSet, ClearForgetsEveryIndex) {
  mb::TriedSet tried;
  for (std::uint32_t i : {3u, 200u, 700u}) tried.insert(i);
  tried.clear();
  EXPECT_TRUE(tried.empty());
  for (std::uint32_t i : {3u, 200u, 700u}) EXPECT_FALSE(tried.contains(i)) << i;
  tried.insert(700);
  EXPECT_EQ(tried.size(), 1u);
}

// A pool larger than the inline bits: every server but one tried, on either side of the
// boundary, leaves exactly that one; all tried leaves none.
TEST(TriedSet, PoolOfAThousandServersPicksOnlyTheUntried) {
  auto list = modelgate::test::alike_servers(1024);
  for (const char* strategy : {"round_robin", "least_request", "p2c", "random"}) {
    mb::Pool pool(list, mb::make_balancer(strategy, list, {.seed = 7}));
    for (std::uint32_t left : {5u, 255u, 256u, 1023u}) {
      mb::TriedSet tried;
      for (std::uint32_t i = 0; i < list.size(); ++i)
        if (i != left) tried.insert(i);
      mb::PickRequest request;
      request.tried = &tried;
      for (int k = 0; k < 20; ++k) {
        request.key_hash = static_cast<std::uint64_t>(k);
        const auto pick = pool.pick(request);
        ASSERT_EQ(pick.server, list[left].get()) << strategy << " left " << left;
        ASSERT_EQ(pick.index, left);
      }
      tried.insert(left);
      EXPECT_EQ(pool.pick(tried, 0), nullptr) << strategy;
    }
  }
}
