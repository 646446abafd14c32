#include <gtest/gtest.h>

#include <map>
#include <string>

#include "balancing/pool.h"
#include "balancing/round_robin.h"
#include "balancing/weighted_round_robin.h"

namespace mb = modelgate::balancing;

namespace {

mb::ServerList servers(std::initializer_list<int> weights, int first_backup = -1) {
  mb::ServerList list;
  int n = 0;
  for (int w : weights) {
    modelgate::config::Server s;
    s.url = "http://127.0.0.1:" + std::to_string(9000 + n);
    s.host = "127.0.0.1";
    s.port = static_cast<std::uint16_t>(9000 + n++);
    s.weight = w;
    s.backup = first_backup >= 0 && n > first_backup;
    list.push_back(std::make_shared<mb::ServerState>(s));
  }
  return list;
}

std::string sequence(mb::Pool& pool, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    auto* s = pool.pick({}, 0);
    out += static_cast<char>('a' + (s->spec.port - 9000));
  }
  return out;
}

}  // namespace

TEST(WeightedRoundRobin, SmoothSequenceAsNginx) {
  // nginx's documented example: weights 5,1,1 give "a a b a c a a" spread out.
  auto list = servers({5, 1, 1});
  mb::Pool pool(list, mb::make_balancer("weighted_round_robin", list));
  EXPECT_EQ(sequence(pool, 7), "aabacaa");
  EXPECT_EQ(sequence(pool, 7), "aabacaa");
}

TEST(WeightedRoundRobin, EqualWeightsAreRoundRobin) {
  auto list = servers({3, 3, 3});
  mb::Pool pool(list, mb::make_balancer("weighted_round_robin", list));
  EXPECT_EQ(sequence(pool, 6), "abcabc");
}

TEST(WeightedRoundRobin, HonoursRatio) {
  auto list = servers({3, 1});
  mb::Pool pool(list, mb::make_balancer("weighted_round_robin", list));
  auto seq = sequence(pool, 400);
  EXPECT_EQ(std::count(seq.begin(), seq.end(), 'a'), 300);
}

TEST(RoundRobin, CyclesAndSkipsUnhealthy) {
  auto list = servers({1, 1, 1});
  mb::Pool pool(list, mb::make_balancer("round_robin", list));
  EXPECT_EQ(sequence(pool, 6), "abcabc");
  list[1]->healthy = false;
  EXPECT_EQ(sequence(pool, 4), "acac");
  list[1]->healthy = true;
  EXPECT_EQ(sequence(pool, 3), "abc");
}

TEST(Pool, TriedServersAreExcludedAndExhaustionIsNull) {
  auto list = servers({1, 1});
  mb::Pool pool(list, mb::make_balancer("round_robin", list));
  mb::TriedSet tried;
  mb::PickRequest request;
  request.tried = &tried;
  const auto first = pool.pick(request);
  tried.insert(first.index);
  const auto second = pool.pick(request);
  tried.insert(second.index);
  EXPECT_NE(first.server, second.server);
  EXPECT_EQ(pool.pick(tried, 0), nullptr);
}

TEST(Pool, BackupOnlyWhenEveryPrimaryIsDown) {
  auto list = servers({1, 1, 1}, /*first_backup=*/2);
  mb::Pool pool(list, mb::make_balancer("round_robin", list));
  EXPECT_EQ(sequence(pool, 4), "abab");
  list[0]->healthy = false;
  list[1]->healthy = false;
  EXPECT_EQ(sequence(pool, 2), "cc");
}

TEST(Pool, ZeroWeightAndDrainNeverPicked) {
  auto list = servers({0, 1});
  mb::Pool pool(list, mb::make_balancer("weighted_round_robin", list));
  EXPECT_EQ(sequence(pool, 3), "bbb");
}

TEST(Strategies, UnknownNameIsNull) {
  auto list = servers({1});
  EXPECT_EQ(mb::make_balancer("fastest", list), nullptr);
}
