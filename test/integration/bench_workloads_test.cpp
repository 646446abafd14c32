// `modelgate bench` against real processes: a tiny version of each scheduling workload through
// the gateway in front of two sims, the session header that lets a consistent hash pin a group,
// the history a multi-turn conversation resends, the run's bounds, and what it measures.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/gateway_process.h"
#include "support/json.h"
#include "support/process.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

// `balancing`: lines under loadBalancer (indent 8), e.g. the strategy.
std::string gateway_config(const mt::SimProcess& a, const mt::SimProcess& b, const std::string& balancing) {
  return mt::pool_config({a.port(), b.port()}, balancing + "\n");
}

struct BenchRun {
  int status = -1;
  std::string output;
  std::string json_text;
};

// Runs `modelgate bench --url URL ARGS --json FILE` to its end (bounded) and reads the report.
BenchRun run_bench(std::uint16_t port, std::vector<std::string> args) {
  static int n = 0;
  const std::string json_path = mt::temp_dir() + "/bench-" + std::to_string(n++) + ".json";
  std::vector<std::string> argv = {"bench", "--url", url(port), "--json", json_path, "--timeout", "20"};
  argv.insert(argv.end(), args.begin(), args.end());
  mt::Process bench(MODELGATE_BIN, argv);
  BenchRun r;
  auto status = bench.wait(60s);
  r.status = status ? *status : -1;
  // The table's last line: the output is read by another thread, which may lag the exit.
  bench.wait_for_line(std::regex("^  servers "), 5s);
  r.output = bench.output();
  std::ifstream in(json_path);
  std::stringstream text;
  text << in.rdbuf();
  r.json_text = text.str();
  return r;
}

const std::vector<std::string> kTiny = {"--groups", "2", "--prompts", "3", "--system-tokens", "40",
                                        "--question-tokens", "8", "--output-tokens", "4",
                                        "--conversations", "2", "--turns", "3", "--think-ms", "10",
                                        "--rate", "0", "--concurrency", "2"};

// kTiny with the options in `more` (pairs of option and value) set or added.
std::vector<std::string> tiny(const std::vector<std::string>& more) {
  auto args = kTiny;
  for (std::size_t i = 0; i + 1 < more.size(); i += 2) {
    auto it = std::find(args.begin(), args.end(), more[i]);
    if (it != args.end()) {
      *(it + 1) = more[i + 1];
    } else {
      args.push_back(more[i]);
      args.push_back(more[i + 1]);
    }
  }
  return args;
}

TEST(BenchWorkloads, EachWorkloadRunsThroughTheGatewayAndReportsEverything) {
  mt::SimProcess a("sim-a"), b("sim-b");
  // One worker: round robin's cursor is per worker, and an exact 3 / 3 split is asserted below.
  mt::GatewayProcess gateway(gateway_config(a, b, "        strategy: round_robin"), 1);
  for (const char* workload : {"shared-prefix", "multi-turn", "hot-prefix", "uniform"}) {
    SCOPED_TRACE(workload);
    auto run = run_bench(gateway.port(), tiny({"--workload", workload, "--fleet-size", "2"}));
    ASSERT_EQ(run.status, 0) << run.output;
    mt::Json report(run.json_text);
    ASSERT_TRUE(report.ok) << run.json_text;
    EXPECT_EQ(mt::str(report.root, "workload"), workload);
    EXPECT_EQ(mt::num(report.root, "planned"), 6);
    EXPECT_EQ(mt::num(report.root, "sent"), 6);
    EXPECT_EQ(mt::num(report.root, "ok"), 6);
    EXPECT_EQ(mt::num(report.root, "errors"), 0);
    EXPECT_EQ(mt::num(report.root, "output_tokens"), 6 * 4);
    EXPECT_EQ(mt::num(report.root, "answers_with_usage"), 6);
    EXPECT_GE(mt::num(report.root, "prompt_tokens"), 6 * 48);
    // Round robin over two servers: both answered, three requests each.
    EXPECT_EQ(mt::num(report.root["servers"], "sim-a"), 3) << run.json_text;
    EXPECT_EQ(mt::num(report.root["servers"], "sim-b"), 3) << run.json_text;
    EXPECT_EQ(double(report.root["load_ratio"]), 1.0);
    EXPECT_GT(double(report.root["ttft_ms"]["p50"]), 0.0);
    EXPECT_GE(double(report.root["e2e_ms"]["p99"]), double(report.root["ttft_ms"]["p99"]));
    EXPECT_NE(run.output.find("throughput"), std::string::npos) << run.output;
  }
}

TEST(BenchWorkloads, TheSessionHeaderLetsAConsistentHashPinEachGroup) {
  mt::SimProcess a("sim-a"), b("sim-b");
  mt::GatewayProcess oracle(gateway_config(a, b, R"(        strategy: consistent_hash
        hashKey: header:X-Session-ID)"));
  // One group of six prompts: every request carries the same session id, so one server takes all.
  auto run = run_bench(oracle.port(), tiny({"--workload", "shared-prefix", "--groups", "1", "--prompts", "6",
                                             "--fleet-size", "2"}));
  ASSERT_EQ(run.status, 0) << run.output;
  mt::Json report(run.json_text);
  ASSERT_TRUE(report.ok) << run.json_text;
  EXPECT_EQ(report.root["servers"].get_object().size(), 1u) << run.json_text;
  EXPECT_TRUE(report.root["load_ratio"].is_null()) << "a fleet server got nothing: the ratio is infinite";

  // Without the header the hash falls back to the client address, the same for every request:
  // the spread that --source-addresses restores for ip_hash.
  mt::GatewayProcess by_ip(gateway_config(a, b, "        strategy: ip_hash"));
  auto spread = run_bench(by_ip.port(), tiny({"--workload", "uniform", "--groups", "4", "--prompts", "4",
                                               "--source-addresses", "16"}));
  ASSERT_EQ(spread.status, 0) << spread.output;
  mt::Json spread_report(spread.json_text);
  EXPECT_EQ(spread_report.root["servers"].get_object().size(), 2u) << spread.json_text;
}

TEST(BenchWorkloads, OnEngineSimsPinningGroupsHitsTheCacheMoreThanRoundRobin) {
  const std::vector<std::string> engine = {"--engine", "vllm"};
  const auto workload = tiny({"--workload", "shared-prefix", "--groups", "2", "--prompts", "4", "--system-tokens",
                              "256", "--concurrency", "1", "--fleet-size", "2"});
  auto hit_rate = [&](const std::string& balancing) {
    mt::SimProcess a("sim-a", engine), b("sim-b", engine);  // cold caches for each run
    mt::GatewayProcess gateway(gateway_config(a, b, balancing), 1);
    auto run = run_bench(gateway.port(), workload);
    EXPECT_EQ(run.status, 0) << run.output;
    mt::Json report(run.json_text);
    EXPECT_EQ(mt::num(report.root, "answers_with_cached_tokens"), 8) << run.json_text;
    return double(report.root["hit_rate"]);
  };
  // One request at a time: round robin sends each group to both servers (two misses per group),
  // the oracle to one (one miss per group, three hits).
  const double spread = hit_rate("        strategy: round_robin");
  const double pinned = hit_rate("        strategy: consistent_hash\n        hashKey: header:X-Session-ID");
  EXPECT_GT(pinned, 0.5);
  EXPECT_GT(pinned, spread + 0.15) << "round robin " << spread << ", pinned " << pinned;
}

TEST(BenchWorkloads, MultiTurnResendsTheWholeHistory) {
  mt::SimProcess sim("sim-a");
  auto one_turn = run_bench(sim.port(), tiny({"--workload", "multi-turn", "--conversations", "1", "--turns", "1"}));
  auto three_turns = run_bench(sim.port(), tiny({"--workload", "multi-turn", "--conversations", "1", "--turns", "3"}));
  ASSERT_EQ(one_turn.status, 0) << one_turn.output;
  ASSERT_EQ(three_turns.status, 0) << three_turns.output;
  const auto first = mt::num(mt::Json(one_turn.json_text).root, "prompt_tokens");
  const auto all = mt::num(mt::Json(three_turns.json_text).root, "prompt_tokens");
  // Turn t sends the opening context, t questions and t-1 answers: 3 first prompts plus
  // 3 questions and 3 answers (4 tokens) more.
  EXPECT_EQ(all, 3 * first + 3 * 8 + 3 * 4) << three_turns.json_text;
}

TEST(BenchWorkloads, MeasuresTimeToFirstTokenAndPerOutputToken) {
  mt::SimProcess sim("sim-a", {"--ttft-ms", "150", "--tpot-ms", "30"});
  auto run = run_bench(sim.port(), tiny({"--workload", "uniform", "--requests", "2"}));
  ASSERT_EQ(run.status, 0) << run.output;
  mt::Json report(run.json_text);
  EXPECT_EQ(mt::num(report.root, "sent"), 2) << "--requests bounds the run";
  EXPECT_GE(double(report.root["ttft_ms"]["p50"]), 150.0);
  EXPECT_LT(double(report.root["ttft_ms"]["p50"]), 1000.0);
  EXPECT_GE(double(report.root["tpot_ms"]["p50"]), 25.0);
  EXPECT_GE(double(report.root["e2e_ms"]["p50"]), 150.0 + 3 * 25.0);
}

TEST(BenchWorkloads, OpenLoopStopsStartingRequestsAtTheDeadline) {
  mt::SimProcess sim("sim-a");
  // 2 requests/s for 1 s: about 2 of the 32 requests start, never all of them.
  auto run = run_bench(sim.port(), tiny({"--workload", "shared-prefix", "--groups", "4", "--prompts", "8",
                                         "--rate", "2", "--duration", "1"}));
  ASSERT_EQ(run.status, 0) << run.output;
  mt::Json report(run.json_text);
  EXPECT_EQ(mt::str(report.root, "mode"), "open");
  EXPECT_GE(mt::num(report.root, "sent"), 1);
  EXPECT_LE(mt::num(report.root, "sent"), 10);
}

TEST(BenchWorkloads, FailedRequestsAreCountedAndFailTheRun) {
  mt::SimProcess sim("sim-a", {"--fail-rate", "1"});
  auto run = run_bench(sim.port(), tiny({"--workload", "uniform", "--requests", "3"}));
  EXPECT_EQ(run.status, 1) << run.output;
  mt::Json report(run.json_text);
  EXPECT_EQ(mt::num(report.root, "errors"), 3) << run.json_text;
  EXPECT_EQ(mt::num(report.root["error_kinds"], "status 500"), 3) << run.json_text;
}

TEST(BenchWorkloads, BadOptionsSayWhatToChange) {
  mt::Process bench(MODELGATE_BIN, {"bench", "--url", "localhost:80"});
  EXPECT_EQ(bench.wait(10s), 2);
  EXPECT_NE(bench.output().find("http://127.0.0.1:8080"), std::string::npos) << bench.output();
  mt::Process wrong(MODELGATE_BIN, {"bench", "--workload", "sharedprefix"});
  EXPECT_EQ(wrong.wait(10s), 2);
  EXPECT_NE(wrong.output().find("shared-prefix, multi-turn"), std::string::npos) << wrong.output();
}

}  // namespace
