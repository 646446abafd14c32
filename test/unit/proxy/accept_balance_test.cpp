#include "proxy/accept_balance.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

namespace mp = modelgate::proxy;

namespace {

std::size_t choose(std::size_t self, const std::vector<int>& counts,
                   const std::vector<bool>& accepting = {}) {
  return mp::choose_worker(
      self, counts.size(), [&](std::size_t i) { return counts[i]; },
      [&](std::size_t i) { return accepting.empty() || accepting[i]; });
}

}  // namespace

TEST(AcceptBalance, KeepsAConnectionWithinTheSlack) {
  EXPECT_EQ(choose(0, {5, 5}), 0u);
  EXPECT_EQ(choose(0, {6, 5}), 0u);
  EXPECT_EQ(choose(1, {0, 0, 0}), 1u);
}

TEST(AcceptBalance, HandsAConnectionToTheWorkerServingFewest) {
  EXPECT_EQ(choose(0, {7, 5}), 1u);
  EXPECT_EQ(choose(2, {9, 4, 12, 6}), 1u);
}

TEST(AcceptBalance, SkipsWorkersThatStoppedAccepting) {
  EXPECT_EQ(choose(0, {9, 0, 4}, {true, false, true}), 2u);
  EXPECT_EQ(choose(0, {9, 0}, {true, false}), 0u);
}

// Whatever worker the kernel gives each connection to, the counts stay within the slack + 1.
TEST(AcceptBalance, AnyArrivalOrderEndsEven) {
  std::vector<int> counts(2, 0);
  unsigned x = 12345;
  for (int n = 0; n < 1000; ++n) {
    x = x * 1103515245u + 12345u;
    const std::size_t arrived = (x >> 16) % 4 == 0 ? 1 : 0;  // a kernel that favours worker 0 3:1
    ++counts[choose(arrived, counts)];
    ASSERT_LE(std::abs(counts[0] - counts[1]), mp::kAcceptSlack + 1) << n;
  }
}
