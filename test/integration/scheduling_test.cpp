// The LLM scheduling strategies end to end: `modelgate serve` in front of `modelgate sim`s on
// loopback, which server answered read from the sims' X-Served-By header.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;

namespace {

std::string url(const mt::SimProcess& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

// One router to one pool of `sims` with `strategy`, and the admin API on a free port.
std::string config(const std::vector<mt::SimProcess*>& sims, const std::string& strategy) {
  std::vector<std::uint16_t> ports;
  for (auto* s : sims) ports.push_back(s->port());
  return mt::pool_config(ports, "        strategy: " + strategy + "\nadmin:\n  address: \"127.0.0.1:0\"\n");
}

// A chat request whose system prompt (about 2 KB) is that of `group`.
std::string grouped_chat(int group, int question) {
  std::string system;
  while (system.size() < 2000) system += "You are assistant number " + std::to_string(group) + ", be brief. ";
  return R"({"model":"m","max_tokens":2,"messages":[{"role":"system","content":")" + system +
         R"("},{"role":"user","content":"question )" + std::to_string(question) + R"("}]})";
}

// For each group, the servers that answered its requests (groups interleaved, one at a time).
std::map<int, std::set<std::string>> serve_groups(std::uint16_t port, int groups, int per_group) {
  mt::HttpClient client("127.0.0.1", port);
  std::map<int, std::set<std::string>> by_group;
  for (int q = 0; q < per_group; ++q) {
    for (int g = 0; g < groups; ++g) {
      auto r = client.post_json("/v1/chat/completions", grouped_chat(g, q));
      EXPECT_EQ(r.status, 200) << r.body;
      by_group[g].insert(r.header("X-Served-By"));
    }
  }
  return by_group;
}

}  // namespace

TEST(CacheAware, EachPromptPrefixStaysOnOneServerWhileRoundRobinScattersIt) {
  mt::SimProcess a("a", {"--models", "m", "--ttft-ms", "0"});
  mt::SimProcess b("b", {"--models", "m", "--ttft-ms", "0"});
  mt::SimProcess c("c", {"--models", "m", "--ttft-ms", "0"});
  std::set<std::string> used;
  {
    mt::GatewayProcess gw(config({&a, &b, &c}, "cache_aware"));
    // New prefixes are placed by a hash of the server URLs (free ports, so a different split in
    // every run). First requests until two groups have each server as their home, so that no
    // server takes more than its share of what follows and every group can stay home.
    mt::HttpClient client("127.0.0.1", gw.port());
    std::map<std::string, std::vector<int>> homes;
    std::map<int, std::set<std::string>> by_group;
    std::vector<int> groups;
    for (int g = 0; groups.size() < 6 && g < 60; ++g) {
      auto r = client.post_json("/v1/chat/completions", grouped_chat(g, 0));
      ASSERT_EQ(r.status, 200) << r.body;
      auto& at = homes[r.header("X-Served-By")];
      if (at.size() < 2) {
        at.push_back(g);
        groups.push_back(g);
        by_group[g].insert(r.header("X-Served-By"));
      }
    }
    ASSERT_EQ(groups.size(), 6u) << "new prefixes spread over the servers";
    for (int q = 1; q < 5; ++q) {
      for (int g : groups) {
        auto r = client.post_json("/v1/chat/completions", grouped_chat(g, q));
        ASSERT_EQ(r.status, 200) << r.body;
        by_group[g].insert(r.header("X-Served-By"));
      }
    }
    for (const auto& [group, servers] : by_group) {
      EXPECT_EQ(servers.size(), 1u) << "group " << group;
      used.insert(servers.begin(), servers.end());
    }
    EXPECT_EQ(used.size(), 3u);
    // The cost model's series are on /metrics for the cache_aware service.
    mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
    const auto metrics = admin.get("/metrics").body;
    EXPECT_NE(metrics.find("modelgate_server_pending_prompt_tokens{service=\"pool\",server=\"" + url(a) + "\"} 0"),
              std::string::npos)
        << metrics;
  }
  // The control: round robin sends a group's requests everywhere (7 groups over 3 servers).
  mt::GatewayProcess rr(config({&a, &b, &c}, "round_robin"));
  for (const auto& [group, servers] : serve_groups(rr.port(), 7, 5)) EXPECT_GT(servers.size(), 1u) << "group " << group;
}

TEST(Session, ASessionKeepsItsServerAndSessionsSpread) {
  mt::SimProcess a("a", {"--models", "m", "--ttft-ms", "0"});
  mt::SimProcess b("b", {"--models", "m", "--ttft-ms", "0"});
  mt::SimProcess c("c", {"--models", "m", "--ttft-ms", "0"});
  mt::GatewayProcess gw(config({&a, &b, &c}, "session"));
  mt::HttpClient client("127.0.0.1", gw.port());
  std::map<std::string, std::set<std::string>> by_session;
  std::set<std::string> used;
  for (int turn = 0; turn < 3; ++turn) {
    for (int s = 0; s < 30; ++s) {
      const std::string id = "conversation-" + std::to_string(s);
      auto r = client.post_json("/v1/chat/completions", grouped_chat(s, turn), {{"X-Session-ID", id}});
      ASSERT_EQ(r.status, 200) << r.body;
      by_session[id].insert(r.header("X-Served-By"));
      used.insert(r.header("X-Served-By"));
    }
  }
  for (const auto& [id, servers] : by_session) EXPECT_EQ(servers.size(), 1u) << id;
  EXPECT_EQ(used.size(), 3u);
}

namespace {

struct HitRate {
  std::int64_t prompt = 0, cached = 0;
  double rate() const { return prompt ? static_cast<double>(cached) / static_cast<double>(prompt) : 0; }
};

// 7 groups x 6 questions, groups interleaved, through the gateway (7, so that round robin over 4
// servers does not pin each group by chance); the fleet's hit rate from the answers' usage.
HitRate run_groups(std::uint16_t port) {
  mt::HttpClient client("127.0.0.1", port, std::chrono::seconds(30));
  HitRate h;
  for (int q = 0; q < 6; ++q) {
    for (int g = 0; g < 7; ++g) {
      auto r = client.post_json("/v1/chat/completions", grouped_chat(g, q));
      EXPECT_EQ(r.status, 200) << r.body;
      simdjson::dom::parser parser;
      simdjson::dom::element doc;
      if (parser.parse(r.body).get(doc)) continue;
      h.prompt += mt::num(doc["usage"], "prompt_tokens");
      h.cached += std::max<std::int64_t>(0, mt::num(doc["usage"]["prompt_tokens_details"], "cached_tokens"));
    }
  }
  return h;
}

double series_sum(const std::string& metrics, const std::string& name) {
  double sum = 0;
  std::size_t at = 0;
  while ((at = metrics.find("\n" + name + "{", at)) != std::string::npos) {
    const auto space = metrics.find(' ', at + 1);
    sum += std::stod(metrics.substr(space + 1, metrics.find('\n', space) - space - 1));
    at = space;
  }
  return sum;
}

std::vector<std::unique_ptr<mt::SimProcess>> engines(const std::string& tag) {
  std::vector<std::unique_ptr<mt::SimProcess>> v;
  for (int i = 0; i < 4; ++i) {
    v.push_back(std::make_unique<mt::SimProcess>(
        tag + std::to_string(i), std::vector<std::string>{"--models", "m", "--engine", "vllm"}));
  }
  return v;
}

std::vector<mt::SimProcess*> raw(const std::vector<std::unique_ptr<mt::SimProcess>>& v) {
  std::vector<mt::SimProcess*> out;
  for (const auto& p : v) out.push_back(p.get());
  return out;
}

}  // namespace

TEST(CacheAware, HitRateOnEngineSimsBeatsRoundRobinAndPredictionsAreChecked) {
  HitRate rr, ca;
  {
    auto sims = engines("rr");
    mt::GatewayProcess gw(config(raw(sims), "round_robin"));
    rr = run_groups(gw.port());
  }
  auto sims = engines("ca");
  mt::GatewayProcess gw(config(raw(sims), "cache_aware"));
  ca = run_groups(gw.port());
  EXPECT_GT(ca.rate(), rr.rate() + 0.2) << "cache_aware " << ca.rate() << ", round_robin " << rr.rate();
  EXPECT_GT(ca.rate(), 0.6);
  // The predictions were checked against the sims' cached_tokens, and mostly delivered.
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  const auto metrics = admin.get("/metrics").body;
  const double predicted = series_sum(metrics, "modelgate_server_cache_predicted_tokens_total");
  const double realised = series_sum(metrics, "modelgate_server_cache_realised_tokens_total");
  EXPECT_GT(predicted, 0) << metrics;
  EXPECT_GT(realised, 0.8 * predicted) << "predicted " << predicted << ", realised " << realised;
  EXPECT_EQ(series_sum(metrics, "modelgate_server_cache_checked_answers_total"), 42.0);
}

namespace {

// Two engine sims behind a cache_aware gateway (`lb_extra` under its strategy), and one group's
// prefix sent three times, so that it has a home server and the later requests were predicted to
// hit there.
struct WarmedPrefix {
  std::vector<std::string> engine;
  std::map<std::string, std::unique_ptr<mt::SimProcess>> sims;
  std::unique_ptr<mt::GatewayProcess> gw;
  std::unique_ptr<mt::HttpClient> client, admin;
  std::string home, metrics;
  double predicted = 0;

  void warm(std::vector<std::string> engine_args, const std::string& lb_extra) {
    engine = std::move(engine_args);
    sims["x"] = std::make_unique<mt::SimProcess>("x", engine);
    sims["y"] = std::make_unique<mt::SimProcess>("y", engine);
    gw = std::make_unique<mt::GatewayProcess>(config({sims["x"].get(), sims["y"].get()}, "cache_aware" + lb_extra));
    client = std::make_unique<mt::HttpClient>("127.0.0.1", gw->port(), std::chrono::seconds(30));
    admin = std::make_unique<mt::HttpClient>("127.0.0.1", mt::admin_port(gw->process()));
    for (int q = 0; q < 3; ++q) {
      auto r = client->post_json("/v1/chat/completions", grouped_chat(0, q));
      ASSERT_EQ(r.status, 200) << r.body;
      home = r.header("X-Served-By");
    }
    ASSERT_TRUE(sims.count(home)) << home;
    ASSERT_TRUE(checked(3)) << metrics;
    predicted = series_sum(metrics, "modelgate_server_cache_predicted_tokens_total");
    ASSERT_GT(predicted, 0) << "the warm-up's later requests were predicted to hit";
  }

  // An answer is checked once its body has been relayed, just after the client has it.
  bool checked(double n) {
    return mt::wait_until([&] {
      metrics = admin->get("/metrics").body;
      return series_sum(metrics, "modelgate_server_cache_checked_answers_total") >= n;
    }, std::chrono::seconds(5));
  }
};

}  // namespace

TEST(CacheAware, ARestartedServerIsNoticedAndPredictsNothingItNoLongerHolds) {
  // The gateway scrapes the sims' /metrics every 100 ms; the warmed server is then restarted on
  // the same port with an empty cache.
  WarmedPrefix w;
  ASSERT_NO_FATAL_FAILURE(w.warm({"--models", "m", "--engine", "vllm"},
                                 "\n        serverMetrics:\n          interval: 100ms"));
  // The scrape read each engine's KV size (vllm:cache_config_info: 65 536 tokens by default), and
  // the index models no more than that, although its table would hold far more.
  mt::wait_until([&] {
    w.metrics = w.admin->get("/metrics").body;
    return series_sum(w.metrics, "modelgate_server_cache_modelled_tokens") <= 2 * 65536.0;
  }, std::chrono::seconds(5));
  EXPECT_EQ(series_sum(w.metrics, "modelgate_server_cache_modelled_tokens"), 2 * 65536.0) << w.metrics;

  const auto port = w.sims[w.home]->port();
  w.sims[w.home].reset();
  auto args = w.engine;
  args.insert(args.end(), {"--listen", "127.0.0.1:" + std::to_string(port)});
  w.sims[w.home] = std::make_unique<mt::SimProcess>(w.home, args);

  // The scrape sees the server's prefix-cache counter go back and drops its part of the index.
  mt::wait_until([&] {
    w.metrics = w.admin->get("/metrics").body;
    return series_sum(w.metrics, "modelgate_server_cache_index_resets_total") >= 1;
  }, std::chrono::seconds(10));
  ASSERT_EQ(series_sum(w.metrics, "modelgate_server_cache_index_resets_total"), 1) << w.metrics;

  // The same prefix again: nothing is predicted cached anywhere, and nothing is.
  auto r = w.client->post_json("/v1/chat/completions", grouped_chat(0, 3));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(w.checked(4)) << w.metrics;
  EXPECT_EQ(series_sum(w.metrics, "modelgate_server_cache_predicted_tokens_total"), w.predicted) << w.metrics;
  EXPECT_NE(r.body.find(R"("cached_tokens":0)"), std::string::npos) << r.body;
}

TEST(CacheAware, TwoGatewaysPlaceEachPrefixOnTheSameServer) {
  // Two gateways in front of the same sims, neither told of the other, each learning its own
  // index: a prefix must land on the same server whichever gateway it goes through. The first
  // round goes through one gateway in order, the second through the other in reverse order, so
  // any placement that depends on what a gateway has seen before (a rotation, recent picks)
  // differs between them; the third alternates.
  mt::SimProcess a("a", {"--models", "m", "--ttft-ms", "0"});
  mt::SimProcess b("b", {"--models", "m", "--ttft-ms", "0"});
  mt::SimProcess c("c", {"--models", "m", "--ttft-ms", "0"});
  mt::GatewayProcess one(config({&a, &b, &c}, "cache_aware"));
  mt::GatewayProcess two(config({&a, &b, &c}, "cache_aware"));
  mt::HttpClient via_one("127.0.0.1", one.port());
  mt::HttpClient via_two("127.0.0.1", two.port());
  constexpr int kGroups = 4;
  std::map<int, std::set<std::string>> by_group;
  const auto send = [&](mt::HttpClient& client, int group, int question) {
    auto r = client.post_json("/v1/chat/completions", grouped_chat(group, question));
    ASSERT_EQ(r.status, 200) << r.body;
    by_group[group].insert(r.header("X-Served-By"));
  };
  for (int g = 0; g < kGroups; ++g) send(via_one, g, 0);
  for (int g = kGroups - 1; g >= 0; --g) send(via_two, g, 1);
  for (int g = 0; g < kGroups; ++g) send(g % 2 ? via_one : via_two, g, 2);
  for (const auto& [group, servers] : by_group) {
    EXPECT_EQ(servers.size(), 1u) << "group " << group << " went to " << ::testing::PrintToString(servers);
  }
}

TEST(CacheAware, AServerThatStopsListingAModelHasItsIndexDropped) {
  // Engine sims serving two models, listed by model discovery every 100 ms. Once one group's
  // prefix is warmed, its server unloads the model (its KV cache goes with it) and loads it again:
  // nothing of the prefix may be predicted cached there any more.
  WarmedPrefix w;
  ASSERT_NO_FATAL_FAILURE(w.warm({"--models", "m,other", "--engine", "vllm"},
                                 "\n        discoverModels: {interval: 100ms}"));
  const auto listed_by = [&](int n) {
    return mt::wait_until([&] {
      return w.client->get("/v1/models/m").body.find("\"servers\":" + std::to_string(n) + ",") != std::string::npos;
    }, std::chrono::seconds(5));
  };
  ASSERT_TRUE(listed_by(2)) << w.client->get("/v1/models/m").body;

  mt::HttpClient sim("127.0.0.1", w.sims[w.home]->port());
  ASSERT_EQ(sim.request("DELETE", "/admin/models/m").status, 204);
  ASSERT_TRUE(listed_by(1)) << w.client->get("/v1/models/m").body;
  ASSERT_EQ(sim.post_json("/admin/models", R"({"id":"m"})").status, 201);
  ASSERT_TRUE(listed_by(2)) << w.client->get("/v1/models/m").body;

  auto r = w.client->post_json("/v1/chat/completions", grouped_chat(0, 3));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("X-Served-By"), w.home) << "placed where the prefix went before";
  EXPECT_NE(r.body.find(R"("cached_tokens":0)"), std::string::npos) << "the sim reloaded the model cold: " << r.body;
  ASSERT_TRUE(w.checked(4)) << w.metrics;
  EXPECT_EQ(series_sum(w.metrics, "modelgate_server_cache_predicted_tokens_total"), w.predicted)
      << "predicted a prefix the server unloaded; " << w.metrics;
  EXPECT_EQ(series_sum(w.metrics, "modelgate_server_cache_index_resets_total"), 1) << w.metrics;
}
