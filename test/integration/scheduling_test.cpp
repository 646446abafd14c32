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
    for (const auto& [group, servers] : serve_groups(gw.port(), 7, 5)) {
      EXPECT_EQ(servers.size(), 1u) << "group " << group;
      used.insert(servers.begin(), servers.end());
    }
    EXPECT_EQ(used.size(), 3u);  // new prefixes spread over the idle servers
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

TEST(CacheAware, ARestartedServerIsNoticedAndPredictsNothingItNoLongerHolds) {
  // Two engine sims whose /metrics the gateway scrapes every 100 ms; one group's prefix is warmed
  // on one of them, which is then restarted on the same port with an empty cache.
  std::map<std::string, std::unique_ptr<mt::SimProcess>> sims;
  const std::vector<std::string> engine = {"--models", "m", "--engine", "vllm"};
  sims["x"] = std::make_unique<mt::SimProcess>("x", engine);
  sims["y"] = std::make_unique<mt::SimProcess>("y", engine);
  mt::GatewayProcess gw(config({sims["x"].get(), sims["y"].get()},
                               "cache_aware\n        serverMetrics:\n          interval: 100ms"));
  mt::HttpClient client("127.0.0.1", gw.port(), std::chrono::seconds(30));
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  std::string home;
  for (int q = 0; q < 3; ++q) {
    auto r = client.post_json("/v1/chat/completions", grouped_chat(0, q));
    ASSERT_EQ(r.status, 200) << r.body;
    home = r.header("X-Served-By");
  }
  ASSERT_TRUE(sims.count(home)) << home;
  // An answer is checked once its body has been relayed, just after the client has it.
  std::string metrics;
  const auto checked = [&](double n) {
    return mt::wait_until([&] {
      metrics = admin.get("/metrics").body;
      return series_sum(metrics, "modelgate_server_cache_checked_answers_total") >= n;
    }, std::chrono::seconds(5));
  };
  ASSERT_TRUE(checked(3)) << metrics;
  const double predicted = series_sum(metrics, "modelgate_server_cache_predicted_tokens_total");
  ASSERT_GT(predicted, 0) << "the warm-up's later requests were predicted to hit";

  const auto port = sims[home]->port();
  sims[home].reset();
  auto args = engine;
  args.insert(args.end(), {"--listen", "127.0.0.1:" + std::to_string(port)});
  sims[home] = std::make_unique<mt::SimProcess>(home, args);

  // The scrape sees the server's prefix-cache counter go back and drops its part of the index.
  mt::wait_until([&] {
    metrics = admin.get("/metrics").body;
    return series_sum(metrics, "modelgate_server_cache_index_resets_total") >= 1;
  }, std::chrono::seconds(10));
  ASSERT_EQ(series_sum(metrics, "modelgate_server_cache_index_resets_total"), 1) << metrics;

  // The same prefix again: nothing is predicted cached anywhere, and nothing is.
  auto r = client.post_json("/v1/chat/completions", grouped_chat(0, 3));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(checked(4)) << metrics;
  EXPECT_EQ(series_sum(metrics, "modelgate_server_cache_predicted_tokens_total"), predicted) << metrics;
  EXPECT_NE(r.body.find(R"("cached_tokens":0)"), std::string::npos) << r.body;
}
