// Balancers told of membership changes keep their state for the servers that stay, and a pool's
// kept candidate sets follow health, ejection and drain changes without being asked.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "balancing/consistent_hash.h"
#include "balancing/pool.h"
#include "server_list.h"

namespace mb = modelgate::balancing;

namespace {

mb::ServerList servers(int n, int first_port = 9000, int weight = 1) {
  mb::ServerList list;
  for (int i = 0; i < n; ++i) {
    modelgate::config::Server s;
    s.port = static_cast<std::uint16_t>(first_port + i);
    s.host = "127.0.0.1";
    s.url = "http://127.0.0.1:" + std::to_string(s.port);
    s.weight = weight;
    list.push_back(std::make_shared<mb::ServerState>(s));
  }
  return list;
}

using modelgate::test::all;

// Where each of `keys` keys lands, as server ports.
std::vector<int> owners(mb::Balancer& b, const mb::ServerList& list, int keys) {
  const auto c = all(list.size());
  std::vector<int> out;
  for (int k = 0; k < keys; ++k) out.push_back(list[b.pick({c, 0x9e3779b97f4a7c15ULL * (k + 1)})]->spec.port);
  return out;
}

}  // namespace

TEST(Membership, HashRingUpdatedInPlaceEqualsAFreshRing) {
  auto before = servers(6);
  mb::ConsistentHash ring(before);
  // Servers 1 and 4 leave, two new ones arrive; the list order changes too.
  mb::ServerList after = {before[5], before[0], servers(1, 9100)[0], before[2], before[3], servers(1, 9200)[0]};
  const std::vector<std::uint32_t> previous = {5, 0, mb::MembershipChange::kAdded, 2, 3, mb::MembershipChange::kAdded};
  ring.on_servers_changed({after, previous});
  mb::ConsistentHash fresh(after);
  EXPECT_EQ(ring.ring_size(), fresh.ring_size());
  EXPECT_EQ(owners(ring, after, 5000), owners(fresh, after, 5000));
}

TEST(Membership, RoundRobinTurnCarriesOverARemovedServer) {
  auto list = servers(4);
  mb::Pool pool(list, mb::make_balancer("round_robin", list));
  EXPECT_EQ(pool.pick({}, 0), list[0].get());
  EXPECT_EQ(pool.pick({}, 0), list[1].get());
  pool.set_servers({list[0], list[1], list[3]});  // server 2, next in turn, is removed
  EXPECT_EQ(pool.pick({}, 0), list[3].get());
  EXPECT_EQ(pool.pick({}, 0), list[0].get());
}

TEST(Membership, KeptCandidatesFollowHealthEjectionAndDrain) {
  auto list = servers(3);
  mb::Pool pool(list, mb::make_balancer("round_robin", list));
  const std::int64_t t0 = mb::steady_now_ns();
  auto picks_at = [&](std::int64_t now, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += std::to_string(pool.pick_at({}, now).server->spec.port - 9000);
    return out;
  };
  auto picks = [&](int n) { return picks_at(t0, n); };
  EXPECT_EQ(picks(3), "012");
  list[1]->healthy = false;
  EXPECT_EQ(picks(4), "0202");
  list[1]->healthy.store(true);
  list[2]->draining = true;
  EXPECT_EQ(picks(2), "01");
  // An ejection ends by itself: the set is recomputed when the earliest one is over.
  list[0]->ejected_until_ns.store(t0 + 1000);
  EXPECT_EQ(picks_at(t0 + 999, 2), "11");
  EXPECT_EQ(picks_at(t0 + 1000, 2), "01");
}

TEST(Membership, AllowedListsHaveTheirOwnCandidateSets) {
  auto list = servers(4);
  mb::Pool pool(list, mb::make_balancer("round_robin", list));
  const std::vector<const mb::ServerState*> model_a = {list[3].get(), list[1].get()};
  const std::vector<const mb::ServerState*> model_b = {list[2].get()};
  for (int i = 0; i < 4; ++i) {
    const auto* a = pool.pick({{}, 0, model_a, true}).server;
    EXPECT_TRUE(a == list[1].get() || a == list[3].get());
    EXPECT_EQ(pool.pick({{}, 0, model_b, true}).server, list[2].get());
  }
  list[2]->healthy = false;  // model b's only server: panic, not nothing
  const auto r = pool.pick({{}, 0, model_b, true});
  EXPECT_EQ(r.server, list[2].get());
  EXPECT_TRUE(r.panic);
}
