// The scheduling workloads of `modelgate bench` (bench/workload.h) and its report
// (bench/report.h): what each workload shares, that a seed fixes every byte, and the figures.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "bench/report.h"
#include "bench/workload.h"

namespace mb = modelgate::bench;

namespace {

mb::WorkloadOptions options(mb::WorkloadKind kind) {
  mb::WorkloadOptions o;
  o.kind = kind;
  o.groups = 8;
  o.prompts = 4;
  o.system_tokens = 100;
  o.question_tokens = 10;
  o.conversations = 5;
  o.turns = 3;
  return o;
}

TEST(BenchWorkload, TextIsFourBytesPerTokenAndFixedBySeedAndStream) {
  EXPECT_EQ(mb::make_text(1, 7, 100).size(), 400u);
  EXPECT_EQ(mb::make_text(1, 7, 100), mb::make_text(1, 7, 100));
  EXPECT_NE(mb::make_text(1, 7, 100).substr(0, 16), mb::make_text(1, 8, 100).substr(0, 16));
  EXPECT_NE(mb::make_text(1, 7, 100).substr(0, 16), mb::make_text(2, 7, 100).substr(0, 16));
  // A shorter text of the same stream is a prefix of the longer one.
  EXPECT_EQ(mb::make_text(1, 7, 100).substr(0, 40), mb::make_text(1, 7, 10));
}

TEST(BenchWorkload, SharedPrefixGroupsShareTheirSystemPromptOnly) {
  auto scripts = mb::make_workload(options(mb::WorkloadKind::shared_prefix));
  ASSERT_EQ(scripts.size(), 32u);
  std::map<std::string, std::set<std::string>> systems;
  std::map<std::string, int> per_group;
  std::set<std::string> questions;
  for (const auto& s : scripts) {
    ASSERT_EQ(s.questions.size(), 1u);
    EXPECT_EQ(s.system.size(), 400u);
    systems[s.session].insert(s.system);
    ++per_group[s.session];
    questions.insert(s.questions[0]);
  }
  EXPECT_EQ(systems.size(), 8u);
  for (const auto& [group, texts] : systems) EXPECT_EQ(texts.size(), 1u) << group;
  for (const auto& [group, n] : per_group) EXPECT_EQ(n, 4) << group;
  EXPECT_EQ(questions.size(), 32u);
  // Shuffled, not group after group, and the same order for the same seed.
  EXPECT_NE(scripts[0].session + scripts[1].session + scripts[2].session + scripts[3].session, "g0g0g0g0");
  auto again = mb::make_workload(options(mb::WorkloadKind::shared_prefix));
  for (std::size_t i = 0; i < scripts.size(); ++i) EXPECT_EQ(scripts[i].session, again[i].session);
}

TEST(BenchWorkload, HotPrefixFollowsZipf) {
  auto o = options(mb::WorkloadKind::hot_prefix);
  o.prompts = 50;  // 400 requests
  auto scripts = mb::make_workload(o);
  ASSERT_EQ(scripts.size(), 400u);
  std::map<std::string, int> per_group;
  for (const auto& s : scripts) ++per_group[s.session];
  // 1 / k^1.1 over 8 groups: the first takes about 39 %, the last about 4 %.
  EXPECT_GT(per_group["g0"], 120);
  EXPECT_LT(per_group["g7"], 40);
  EXPECT_GT(per_group["g0"], 3 * per_group["g3"]);
}

TEST(BenchWorkload, UniformSharesNothing) {
  auto scripts = mb::make_workload(options(mb::WorkloadKind::uniform));
  ASSERT_EQ(scripts.size(), 32u);
  std::set<std::string> starts, sessions;
  for (const auto& s : scripts) {
    starts.insert(s.system.substr(0, 16));
    sessions.insert(s.session);
  }
  EXPECT_EQ(starts.size(), 32u);
  EXPECT_EQ(sessions.size(), 32u);
}

TEST(BenchWorkload, MultiTurnConversationsHaveTheirOwnContextAndTurns) {
  auto scripts = mb::make_workload(options(mb::WorkloadKind::multi_turn));
  ASSERT_EQ(scripts.size(), 5u);
  EXPECT_EQ(mb::request_count(scripts), 15u);
  std::set<std::string> contexts;
  for (const auto& s : scripts) {
    EXPECT_EQ(s.questions.size(), 3u);
    EXPECT_NE(s.questions[0], s.questions[1]);
    contexts.insert(s.system);
  }
  EXPECT_EQ(contexts.size(), 5u);
  EXPECT_EQ(mb::parse_workload("multi-turn"), mb::WorkloadKind::multi_turn);
  EXPECT_FALSE(mb::parse_workload("multi_turn"));
}

TEST(BenchReport, PercentilesAreNearestRank) {
  std::vector<double> v = {5, 1, 4, 2, 3, 6, 7, 8, 9, 10};
  EXPECT_EQ(mb::percentile(v, 50), 5);
  EXPECT_EQ(mb::percentile(v, 90), 9);
  EXPECT_EQ(mb::percentile(v, 99), 10);
  EXPECT_EQ(mb::percentile(v, 0), 1);
  std::vector<double> none;
  EXPECT_EQ(mb::percentile(none, 50), 0);
}

mb::ExchangeResult answer(std::string server, std::int64_t prompt, std::int64_t cached) {
  mb::ExchangeResult r;
  r.ok = true;
  r.status = 200;
  r.server = std::move(server);
  r.ttft_ms = 10;
  r.e2e_ms = 20;
  r.content_events = 4;
  r.tpot_ms = 2;
  r.completion_tokens = 4;
  r.prompt_tokens = prompt;
  r.cached_tokens = cached;
  return r;
}

TEST(BenchReport, HitRateIsCachedOverPromptTokensAndLoadRatioCountsIdleServers) {
  mb::Report report({"shared-prefix", "open", 4, 0, 4, 3});
  report.add(answer("a", 1000, 0));
  report.add(answer("a", 1000, 960));
  report.add(answer("b", 1000, 960));
  mb::ExchangeResult failed;
  failed.error = "status 503";
  failed.server = "b";
  report.add(failed);
  report.set_duration(2);
  const auto json = report.json();
  EXPECT_NE(json.find(R"("hit_rate":0.64)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("sent":4,"ok":3,"errors":1)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("requests_per_s":1.5,"output_tokens_per_s":6)"), std::string::npos) << json;
  // Three servers in the fleet, two answered: the third got nothing.
  EXPECT_NE(json.find(R"("load_ratio":null)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("error_kinds":{"status 503":1})"), std::string::npos) << json;
  EXPECT_NE(report.table().find("max/min inf"), std::string::npos) << report.table();

  mb::Report two({"uniform", "closed", 0, 2, 3, 2});
  two.add(answer("a", 10, -1));
  two.add(answer("a", 10, -1));
  two.add(answer("b", 10, -1));
  EXPECT_NE(two.json().find(R"("load_ratio":2,)"), std::string::npos) << two.json();
  EXPECT_NE(two.json().find(R"("hit_rate":null)"), std::string::npos) << two.json();
  EXPECT_NE(two.table().find("not reported"), std::string::npos) << two.table();
}

TEST(BenchReport, LaterTurnsHaveTheirOwnTtft) {
  mb::Report report({"multi-turn", "open", 4, 0, 4, 1});
  auto first = answer("a", 1000, 0);
  first.ttft_ms = 300;  // a new context: cached nowhere
  report.add(first, 0);
  for (std::size_t turn = 1; turn < 4; ++turn) {
    auto later = answer("a", 1000, 900);
    later.ttft_ms = 10.0 * static_cast<double>(turn);
    report.add(later, turn);
  }
  const auto json = report.json();
  EXPECT_NE(json.find(R"("ttft_ms":{"p50":20,"p90":300,"p99":300})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("ttft_later_turns_ms":{"p50":20,"p99":30,"count":3})"), std::string::npos) << json;
  EXPECT_NE(report.table().find("later turns   p50 20.0  p99 30.0  (3 requests)"), std::string::npos)
      << report.table();

  mb::Report single({"uniform", "open", 4, 0, 1, 1});
  single.add(answer("a", 10, -1));
  EXPECT_EQ(single.json().find("ttft_later_turns_ms"), std::string::npos) << single.json();
}

}  // namespace
