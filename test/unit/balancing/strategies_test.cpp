// The balancing strategies behind make_balancer, with fixed seeds: no sockets, no clocks.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "balancing/consistent_hash.h"
#include "balancing/hash_key.h"
#include "balancing/pool.h"
#include "server_list.h"

namespace mb = modelgate::balancing;
namespace mr = modelgate::routing;

namespace {

const mb::BalancerOptions kSeed{.seed = 42};

// Server i listens on port 9000 + i; servers from `first_backup` on are backups, server `drain`
// is draining.
mb::ServerList servers(std::vector<int> weights, int first_backup = -1, int drain = -1) {
  constexpr int first_port = 9000;
  mb::ServerList list;
  for (int i = 0; i < static_cast<int>(weights.size()); ++i) {
    modelgate::config::Server s;
    s.drain = i == drain;
    s.port = static_cast<std::uint16_t>(first_port + i);
    s.host = "10.0.0." + std::to_string(1 + (first_port + i) % 250);
    s.url = "http://" + s.host + ":" + std::to_string(s.port);
    s.weight = weights[i];
    s.backup = first_backup >= 0 && i >= first_backup;
    list.push_back(std::make_shared<mb::ServerState>(s));
  }
  return list;
}

using modelgate::test::all;

std::uint64_t key(int i) { return mb::hash_bytes("client-" + std::to_string(i)); }

// Fraction of `n` picks that went to each server, keys varying from pick to pick.
std::vector<double> shares(mb::Balancer& b, std::size_t servers, int n = 10000) {
  const auto c = all(servers);
  std::vector<double> share(servers, 0);
  for (int i = 0; i < n; ++i) share[b.pick({c, key(i)})] += 1.0 / n;
  return share;
}

const char* const kWeighted[] = {"weighted_round_robin", "least_request", "p2c",       "random",
                                 "ip_hash",              "consistent_hash", "session", "least_load"};
const char* const kAll[] = {"round_robin", "weighted_round_robin", "least_request", "p2c",
                            "random",      "ip_hash",              "consistent_hash", "session",
                            "least_load",  "cache_aware"};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Every strategy

class EveryWeightedStrategy : public testing::TestWithParam<const char*> {};

TEST_P(EveryWeightedStrategy, SharesFollowWeights) {
  auto list = servers({5, 3, 2});
  auto b = mb::make_balancer(GetParam(), list, kSeed);
  ASSERT_NE(b, nullptr);
  const auto share = shares(*b, list.size());
  EXPECT_NEAR(share[0], 0.5, 0.03);
  EXPECT_NEAR(share[1], 0.3, 0.03);
  EXPECT_NEAR(share[2], 0.2, 0.03);
}

TEST_P(EveryWeightedStrategy, EqualWeightsShareEqually) {
  auto list = servers({1, 1, 1, 1});
  auto b = mb::make_balancer(GetParam(), list, kSeed);
  for (double s : shares(*b, list.size())) EXPECT_NEAR(s, 0.25, 0.03);
}

INSTANTIATE_TEST_SUITE_P(Strategies, EveryWeightedStrategy, testing::ValuesIn(kWeighted));

class EveryStrategyInAPool : public testing::TestWithParam<const char*> {
 protected:
  mb::Pool pool(const mb::ServerList& list) {
    return mb::Pool(list, mb::make_balancer(GetParam(), list, kSeed));
  }
};

TEST_P(EveryStrategyInAPool, RetriesNeverRepeatAServerAndExhaustionIsNull) {
  auto list = servers({1, 2, 3});
  auto p = pool(list);
  for (int k = 0; k < 50; ++k) {
    mb::TriedSet tried;
    mb::PickRequest request;
    request.tried = &tried;
    request.key_hash = key(k);
    for (auto pick = p.pick(request); pick.server; pick = p.pick(request)) {
      ASSERT_EQ(pick.server, list[pick.index].get());
      ASSERT_FALSE(tried.contains(pick.index));
      tried.insert(pick.index);
    }
    EXPECT_EQ(tried.size(), 3u);
  }
}

TEST_P(EveryStrategyInAPool, UnhealthyZeroWeightAndDrainedAreNeverPicked) {
  auto list = servers({1, 1, 0, 1}, /*first_backup=*/-1, /*drain=*/3);
  list[1]->healthy = false;
  auto p = pool(list);
  for (int k = 0; k < 200; ++k) EXPECT_EQ(p.pick({}, key(k)), list[0].get());
}

TEST_P(EveryStrategyInAPool, BackupsOnlyWhenEveryPrimaryIsDown) {
  auto list = servers({1, 1, 1, 1}, /*first_backup=*/2);
  auto p = pool(list);
  for (int k = 0; k < 200; ++k) EXPECT_FALSE(p.pick({}, key(k))->spec.backup);
  list[0]->healthy = false;
  list[1]->healthy = false;
  for (int k = 0; k < 200; ++k) EXPECT_TRUE(p.pick({}, key(k))->spec.backup);
}

INSTANTIATE_TEST_SUITE_P(Strategies, EveryStrategyInAPool, testing::ValuesIn(kAll));

TEST(Strategies, TableListsEveryStrategy) {
  auto list = servers({1});
  ASSERT_EQ(mb::strategy_names().size(), std::size(kAll));
  for (auto name : mb::strategy_names()) EXPECT_NE(mb::make_balancer(name, list), nullptr) << name;
  for (auto name : kAll) {
    EXPECT_NE(std::find(mb::strategy_names().begin(), mb::strategy_names().end(), name),
              mb::strategy_names().end());
  }
}

TEST(Strategies, DefaultSeedsDiffer) { EXPECT_NE(mb::BalancerOptions{}.seed, mb::BalancerOptions{}.seed); }

// ---------------------------------------------------------------------------------------------
// least_request

TEST(LeastRequest, PicksFewestInFlight) {
  auto list = servers({1, 1, 1});
  auto b = mb::make_balancer("least_request", list);
  const auto c = all(3);
  list[0]->inflight = 4;
  list[1]->inflight = 0;
  list[2]->inflight = 3;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(b->pick({c}), 1u);
  list[2]->inflight = 0;
  list[1]->inflight = 1;
  EXPECT_EQ(b->pick({c}), 2u);
}

TEST(LeastRequest, ComparesInFlightPerWeight) {
  auto list = servers({2, 1});
  auto b = mb::make_balancer("least_request", list);
  const auto c = all(2);
  list[0]->inflight = 3;  // 1.5 per unit of weight
  list[1]->inflight = 1;  // 1
  EXPECT_EQ(b->pick({c}), 1u);
  list[0]->inflight = 1;  // 0.5
  EXPECT_EQ(b->pick({c}), 0u);
}

TEST(LeastRequest, TiesRotateByWeight) {
  auto list = servers({1, 1, 1});
  auto b = mb::make_balancer("least_request", list);
  const auto c = all(3);
  list[0]->inflight = 2;
  std::string seq;
  for (int i = 0; i < 6; ++i) seq += static_cast<char>('a' + b->pick({c}));
  EXPECT_EQ(seq, "bcbcbc");  // not always the first of the least loaded

  auto weighted = servers({5, 1, 1});
  auto w = mb::make_balancer("least_request", weighted);
  seq.clear();
  for (int i = 0; i < 7; ++i) seq += static_cast<char>('a' + w->pick({c}));
  EXPECT_EQ(seq, "aabacaa");  // idle: smooth weighted round robin, as nginx least_conn
}

TEST(LeastRequest, LoadSettlesInProportionToWeight) {
  // Requests that never finish: each pick adds one in flight where it lands.
  auto list = servers({3, 1});
  auto b = mb::make_balancer("least_request", list);
  const auto c = all(2);
  for (int i = 0; i < 400; ++i) list[b->pick({c})]->inflight++;
  EXPECT_EQ(list[0]->inflight, 300);
  EXPECT_EQ(list[1]->inflight, 100);
}

// ---------------------------------------------------------------------------------------------
// p2c

TEST(P2C, OfTwoAlwaysTheLessLoaded) {
  // Both servers are drawn every time, so the candidates are distinct and the busy one never wins.
  auto list = servers({1, 1});
  auto b = mb::make_balancer("p2c", list, kSeed);
  const auto c = all(2);
  list[0]->inflight = 5;
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(b->pick({c}), 1u);
}

TEST(P2C, IdleServerWinsWheneverDrawn) {
  // The idle server is one of the two candidates in 2 of 3 pairs.
  auto list = servers({1, 1, 1});
  auto b = mb::make_balancer("p2c", list, kSeed);
  list[0]->inflight = 10;
  list[2]->inflight = 10;
  const auto share = shares(*b, 3);
  EXPECT_NEAR(share[1], 2.0 / 3, 0.02);
  EXPECT_NEAR(share[0], 1.0 / 6, 0.02);
  EXPECT_NEAR(share[2], 1.0 / 6, 0.02);
}

TEST(P2C, ComparesInFlightPerWeight) {
  auto list = servers({4, 1});
  auto b = mb::make_balancer("p2c", list, kSeed);
  const auto c = all(2);
  list[0]->inflight = 3;  // 0.75 per unit of weight
  list[1]->inflight = 1;  // 1
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b->pick({c}), 0u);
}

TEST(P2C, LoadSettlesInProportionToWeight) {
  auto list = servers({3, 1, 2});
  auto b = mb::make_balancer("p2c", list, kSeed);
  const auto c = all(3);
  for (int i = 0; i < 6000; ++i) list[b->pick({c})]->inflight++;
  EXPECT_NEAR(list[0]->inflight, 3000, 60);
  EXPECT_NEAR(list[1]->inflight, 1000, 60);
  EXPECT_NEAR(list[2]->inflight, 2000, 60);
}

TEST(P2C, SameSeedSamePicks) {
  auto list = servers({1, 1, 1, 1, 1});
  auto a = mb::make_balancer("p2c", list, kSeed);
  auto b = mb::make_balancer("p2c", list, kSeed);
  const auto c = all(5);
  for (int i = 0; i < 100; ++i) {
    list[i % 5]->inflight = (i * 7) % 3;
    EXPECT_EQ(a->pick({c}), b->pick({c}));
  }
}

// ---------------------------------------------------------------------------------------------
// random

TEST(Random, WeightedAndRepeatableBySeed) {
  auto list = servers({1, 9});
  auto a = mb::make_balancer("random", list, kSeed);
  auto again = mb::make_balancer("random", list, kSeed);
  auto other = mb::make_balancer("random", list, {.seed = 7});
  const auto c = all(2);
  std::string sa, sb, so;
  for (int i = 0; i < 10000; ++i) {
    sa += static_cast<char>('a' + a->pick({c}));
    sb += static_cast<char>('a' + again->pick({c}));
    so += static_cast<char>('a' + other->pick({c}));
  }
  EXPECT_EQ(sa, sb);
  EXPECT_NE(sa, so);
  EXPECT_NEAR(std::count(sa.begin(), sa.end(), 'a') / 10000.0, 0.1, 0.01);
}

TEST(Random, OnlyAmongCandidates) {
  auto list = servers({1, 5, 1, 5});
  auto b = mb::make_balancer("random", list, kSeed);
  const std::vector<std::uint32_t> c = {0, 2};
  std::map<std::uint32_t, int> count;
  for (int i = 0; i < 2000; ++i) count[b->pick({c})]++;
  EXPECT_EQ(count.size(), 2u);
  EXPECT_NEAR(count[0], 1000, 100);
}

// ---------------------------------------------------------------------------------------------
// ip_hash

TEST(IpHash, StablePerKeyAcrossPicksAndWorkers) {
  auto list = servers({1, 2, 1});
  auto worker1 = mb::make_balancer("ip_hash", list, {.seed = 1});
  auto worker2 = mb::make_balancer("ip_hash", list, {.seed = 2});
  const auto c = all(3);
  for (int i = 0; i < 1000; ++i) {
    const auto first = worker1->pick({c, key(i)});
    EXPECT_EQ(worker1->pick({c, key(i)}), first);
    EXPECT_EQ(worker2->pick({c, key(i)}), first);
  }
}

TEST(IpHash, AbsentServerKeysGoElsewhere) {
  auto list = servers({1, 1, 1});
  auto b = mb::make_balancer("ip_hash", list);
  const std::vector<std::uint32_t> without_b = {0, 2};
  for (int i = 0; i < 1000; ++i) EXPECT_NE(b->pick({without_b, key(i)}), 1u);
}

// ---------------------------------------------------------------------------------------------
// consistent_hash

namespace {

// The URL each of `keys` lands on.
std::vector<std::string> placement(const mb::ServerList& list, std::span<const std::uint32_t> c, int keys) {
  auto b = mb::make_balancer("consistent_hash", list);
  std::vector<std::string> out;
  for (int i = 0; i < keys; ++i) out.push_back(list[b->pick({c, key(i)})]->spec.url);
  return out;
}

}  // namespace

TEST(ConsistentHash, StablePerKeyAndIndependentOfListOrder) {
  auto list = servers({1, 2, 1, 1});
  mb::ServerList reversed(list.rbegin(), list.rend());
  const auto c = all(4);
  EXPECT_EQ(placement(list, c, 5000), placement(list, c, 5000));
  EXPECT_EQ(placement(list, c, 5000), placement(reversed, c, 5000));
}

TEST(ConsistentHash, RingHas160PointsPerWeight) {
  EXPECT_EQ(mb::ConsistentHash(servers({1, 2})).ring_size(), 480u);
  EXPECT_EQ(mb::ConsistentHash(servers({10, 20})).ring_size(), 4800u);
  // Huge weights are scaled down to the cap, keeping their ratio.
  EXPECT_LE(mb::ConsistentHash(servers({1000000, 3000000})).ring_size(), mb::ConsistentHash::kMaxPoints + 2);
  auto big = servers({1000000, 3000000});
  auto b = mb::make_balancer("consistent_hash", big);
  EXPECT_NEAR(shares(*b, 2)[1], 0.75, 0.03);
}

TEST(ConsistentHash, UnhealthyServerMovesOnlyItsOwnKeys) {
  constexpr int kKeys = 10000;
  auto list = servers({1, 1, 1, 1, 1});
  const auto before = placement(list, all(5), kKeys);
  const std::vector<std::uint32_t> without_c = {0, 1, 3, 4};
  const auto after = placement(list, without_c, kKeys);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    EXPECT_EQ(before[i], list[2]->spec.url) << "key " << i << " moved off a server that stayed";
  }
  EXPECT_GT(moved, kKeys * 15 / 100);
  EXPECT_LT(moved, kKeys * 25 / 100);
}

TEST(ConsistentHash, RemovingOneOfFiveMovesAFifth) {
  constexpr int kKeys = 10000;
  auto five = servers({1, 1, 1, 1, 1});
  mb::ServerList four = {five[0], five[1], five[3], five[4]};
  const auto before = placement(five, all(5), kKeys);
  const auto after = placement(four, all(4), kKeys);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    EXPECT_EQ(before[i], five[2]->spec.url);
  }
  EXPECT_GT(moved, kKeys * 15 / 100);
  EXPECT_LT(moved, kKeys * 25 / 100);
}

TEST(ConsistentHash, AddingASixthMovesASixthToIt) {
  constexpr int kKeys = 10000;
  auto six = servers({1, 1, 1, 1, 1, 1});
  mb::ServerList five(six.begin(), six.begin() + 5);
  const auto before = placement(five, all(5), kKeys);
  const auto after = placement(six, all(6), kKeys);
  int moved = 0;
  for (int i = 0; i < kKeys; ++i) {
    if (before[i] == after[i]) continue;
    ++moved;
    EXPECT_EQ(after[i], six[5]->spec.url) << "key " << i << " moved between servers that stayed";
  }
  EXPECT_GT(moved, kKeys * 11 / 100);
  EXPECT_LT(moved, kKeys * 22 / 100);
}

// ---------------------------------------------------------------------------------------------
// hash keys

TEST(HashKey, Parse) {
  EXPECT_EQ(mb::HashKey::parse("client_ip")->kind, mb::HashKey::client_ip);
  auto h = mb::HashKey::parse("header:X-Session-Id");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->kind, mb::HashKey::header);
  EXPECT_EQ(h->name, "X-Session-Id");
  EXPECT_EQ(mb::HashKey::parse("cookie:sid")->kind, mb::HashKey::cookie);
  EXPECT_EQ(mb::HashKey::parse("body:user")->name, "user");
  EXPECT_FALSE(mb::HashKey::parse(""));
  EXPECT_FALSE(mb::HashKey::parse("ip"));
  EXPECT_FALSE(mb::HashKey::parse("header:"));
  EXPECT_FALSE(mb::HashKey::parse("header:X Y"));
  EXPECT_FALSE(mb::HashKey::parse("cookie:a=b"));
  EXPECT_FALSE(mb::HashKey::parse("body:"));
}

namespace {

struct Request {
  std::vector<mr::HeaderField> headers;
  mr::RequestView view;
  explicit Request(std::string_view ip, std::vector<mr::HeaderField> h = {}) : headers(std::move(h)) {
    view.headers = headers;
    view.client_ip = *mr::IpAddress::parse(ip);
  }
  Request(const Request&) = delete;  // view points into headers
};

std::uint64_t hash_of(std::string_view key, const Request& r, std::string_view body = {}) {
  return mb::hash_request_key(*mb::HashKey::parse(key), r.view, body);
}

}  // namespace

TEST(HashKey, ClientIp) {
  Request a("192.0.2.7"), same("192.0.2.7", {{"X-Other", "1"}}), b("192.0.2.8"), v6("2001:db8::1");
  EXPECT_EQ(hash_of("client_ip", a), hash_of("client_ip", same));
  EXPECT_NE(hash_of("client_ip", a), hash_of("client_ip", b));
  EXPECT_NE(hash_of("client_ip", a), hash_of("client_ip", v6));
}

TEST(HashKey, HeaderIgnoresNameCaseAndFallsBackToClientIp) {
  Request a("192.0.2.7", {{"x-session-id", "abc"}}), b("192.0.2.8", {{"X-SESSION-ID", " abc "}});
  Request other("192.0.2.7", {{"X-Session-Id", "abd"}}), none("192.0.2.7", {{"X-Other", "abc"}});
  Request empty("192.0.2.7", {{"X-Session-Id", ""}});
  EXPECT_EQ(hash_of("header:X-Session-Id", a), hash_of("header:X-Session-Id", b));
  EXPECT_NE(hash_of("header:X-Session-Id", a), hash_of("header:X-Session-Id", other));
  EXPECT_EQ(hash_of("header:X-Session-Id", none), hash_of("client_ip", none));
  EXPECT_EQ(hash_of("header:X-Session-Id", empty), hash_of("client_ip", empty));
}

TEST(HashKey, CookieFromTheCookieHeader) {
  Request a("192.0.2.7", {{"Cookie", "theme=dark; sid=42; lang=en"}});
  Request b("192.0.2.8", {{"cookie", "sid=\"42\""}});
  Request second("192.0.2.9", {{"Cookie", "theme=dark"}, {"Cookie", "sid=42"}});
  Request other("192.0.2.7", {{"Cookie", "sid=43"}}), prefix("192.0.2.7", {{"Cookie", "xsid=42; SID=42"}});
  Request none("192.0.2.7", {{"Accept", "sid=42"}});
  EXPECT_EQ(hash_of("cookie:sid", a), hash_of("cookie:sid", b));
  EXPECT_EQ(hash_of("cookie:sid", a), hash_of("cookie:sid", second));
  EXPECT_NE(hash_of("cookie:sid", a), hash_of("cookie:sid", other));
  EXPECT_EQ(hash_of("cookie:sid", prefix), hash_of("client_ip", prefix));  // names are exact
  EXPECT_EQ(hash_of("cookie:sid", none), hash_of("client_ip", none));
}

TEST(HashKey, BodyStringOrNumberField) {
  Request r("192.0.2.7"), other_ip("192.0.2.8");
  const std::string a = R"({"model":"m","user":"alice","messages":[{"role":"user","content":"hi"}]})";
  const std::string b = R"({"messages":[],"user" : "alice" , "model":"other"})";
  const std::string escaped = R"({"user":"al\u0069ce"})";
  EXPECT_EQ(hash_of("body:user", r, a), hash_of("body:user", other_ip, b));
  EXPECT_EQ(hash_of("body:user", r, a), hash_of("body:user", r, escaped));
  EXPECT_NE(hash_of("body:user", r, a), hash_of("body:user", r, R"({"user":"bob"})"));
  EXPECT_EQ(hash_of("body:user", r, R"({"user": 1234 })"),
            hash_of("body:user", other_ip, R"({"user":1234})"));
  EXPECT_NE(hash_of("body:user", r, R"({"user":1234})"), hash_of("body:user", r, R"({"user":1235})"));
  EXPECT_EQ(hash_of("body:user", r, R"({"user":"1234"})"), hash_of("body:user", r, R"({"user":1234})"));
}

TEST(HashKey, BodyFallsBackToClientIp) {
  Request r("192.0.2.7");
  const auto ip = hash_of("client_ip", r);
  EXPECT_EQ(hash_of("body:user", r, ""), ip);
  EXPECT_EQ(hash_of("body:user", r, R"({"model":"m"})"), ip);
  EXPECT_EQ(hash_of("body:user", r, R"({"user":""})"), ip);
  EXPECT_EQ(hash_of("body:user", r, R"({"user":{"id":1}})"), ip);
  EXPECT_EQ(hash_of("body:user", r, R"({"user":null})"), ip);
  EXPECT_EQ(hash_of("body:user", r, R"({"meta":{"user":"alice"}})"), ip);  // top level only
  EXPECT_EQ(hash_of("body:user", r, "not json"), ip);
  EXPECT_EQ(hash_of("body:user", r, R"(["user","alice"])"), ip);
}

TEST(HashKey, LargeBodiesAreParsedToo) {
  Request r("192.0.2.7");
  std::string big =
      R"({"messages":[{"role":"user","content":")" + std::string(2 << 20, 'x') + R"("}],"user":"alice"})";
  EXPECT_EQ(hash_of("body:user", r, big), hash_of("body:user", r, R"({"user":"alice"})"));
  EXPECT_EQ(hash_of("body:user", r, R"({"user":"alice"})"),
            hash_of("header:X", Request("192.0.2.7", {{"X", "alice"}})));
}

TEST(HashKey, KeysFeedTheHashingStrategies) {
  auto list = servers({1, 1, 1});
  mb::Pool pool(list, mb::make_balancer("consistent_hash", list));
  Request alice("192.0.2.1", {{"Cookie", "sid=alice"}});
  Request alice_elsewhere("198.51.100.9", {{"Cookie", "sid=alice"}});
  EXPECT_EQ(pool.pick({}, hash_of("cookie:sid", alice)),
            pool.pick({}, hash_of("cookie:sid", alice_elsewhere)));
}
