// A model discovery change rebuilds the snapshot, not the workers' balancers: on the real gateway
// with three sims, one sim loading and unloading a model 100 times does not move the round-robin
// turn of another model by one step.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

TEST(KeptBalancers, RoundRobinTurnSurvivesHundredDiscoveryChangesOfAnotherModel) {
  mt::SimProcess a("a", {"--models", "m-a"});
  mt::SimProcess b("b", {"--models", "m-a"});
  mt::SimProcess c("c", {"--models", "m-a"});
  // One worker: one round-robin turn, which every request of this test goes through.
  mt::GatewayProcess gw(mt::pool_config({a.port(), b.port(), c.port()}, "        discoverModels: {interval: 50ms}\n"), 1);
  mt::HttpClient client("127.0.0.1", gw.port());
  mt::HttpClient sim_c("127.0.0.1", c.port());
  auto listed = [&](const std::string& model) {
    return client.get("/v1/models").body.find("\"" + model + "\"") != std::string::npos;
  };
  auto served_by = [&] {
    auto r = client.post_json("/v1/chat/completions", mt::chat_json("m-a"));
    EXPECT_EQ(r.status, 200) << r.error << r.body;
    return r.header("X-Served-By");
  };
  ASSERT_TRUE(mt::wait_until([&] { return listed("m-a"); }, 5s));
  const std::vector<std::string> turn = {served_by(), served_by(), served_by()};
  ASSERT_EQ(std::set<std::string>(turn.begin(), turn.end()).size(), 3u) << "round robin over a, b and c";

  for (int change = 0; change < 100; ++change) {
    const bool load = change % 2 == 0;
    const auto status = load ? sim_c.post_json("/admin/models", R"({"id":"m-b"})").status
                             : sim_c.request("DELETE", "/admin/models/m-b").status;
    ASSERT_EQ(status, load ? 201 : 204) << "change " << change;
    ASSERT_TRUE(mt::wait_until([&] { return listed("m-b") == load; }, 3s)) << "change " << change << " not seen";
    ASSERT_EQ(served_by(), turn[change % 3]) << "the turn moved at change " << change;
  }
}
