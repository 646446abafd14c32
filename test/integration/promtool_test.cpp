// The metrics exposition checked by Prometheus's own parser and linter: `promtool check metrics`
// (Debian package `prometheus`) exits 0 only for valid text format without lint problems.
#include <gtest/gtest.h>

#include <string>

#include "observability/metrics.h"
#include "support/promtool.h"

namespace mo = modelgate::observability;
using modelgate::test::find_promtool;
using modelgate::test::promtool_check;
using namespace std::chrono_literals;

TEST(Promtool, PopulatedMetricsPassCheckMetrics) {
  const std::string promtool = find_promtool();
  ASSERT_FALSE(promtool.empty())
      << "promtool not found in /usr/bin or /usr/local/bin: install it (Debian: apt-get install prometheus)";

  mo::Metrics m(3);
  const char* models[] = {"Qwen2.5-0.5B-Instruct", "glm4-9b-chat", "meta-llama/Llama-3.1-8B",
                          "odd \"model\"\\ name\nwith newline", "caf\xc3\xa9 \xff bytes", ""};
  int i = 0;
  for (unsigned w = 0; w < m.workers(); ++w) {
    for (const char* model : models) {
      mo::RequestRecord r;
      r.router = w == 0 ? "chat" : "completions";
      r.service = "llm";
      r.model = model;
      r.status = (++i % 5 == 0) ? 502 : 200;
      r.duration = std::chrono::milliseconds(i * 137);
      r.stream = i % 2 == 0;
      if (r.stream) r.ttft = std::chrono::milliseconds(i * 11);
      r.prompt_tokens = 10 + i;
      r.completion_tokens = 3 * i;
      r.attempts = 1 + i % 3;
      r.worker = w;
      m.shard(w).record(r);
    }
  }
  m.config_reload(true);
  m.config_reload(false);
  mo::ExtraGauges g;
  g.servers.push_back({"llm", "http://127.0.0.1:8001", true, 2});
  g.servers.push_back({"llm", "http://[::1]:8002", false, 0});
  g.access_log_dropped = 0;

  const std::string text = m.render_prometheus(g);
  const auto r = promtool_check(promtool, text, "modelgate-metrics");
  EXPECT_EQ(r.exit_code, 0) << "promtool check metrics failed:\n" << r.output << "\n--- exposition ---\n" << text;
}

TEST(Promtool, EmptyMetricsPassCheckMetrics) {
  const std::string promtool = find_promtool();
  ASSERT_FALSE(promtool.empty())
      << "promtool not found in /usr/bin or /usr/local/bin: install it (Debian: apt-get install prometheus)";
  mo::Metrics m(1);
  const std::string text = m.render_prometheus();
  const auto r = promtool_check(promtool, text, "modelgate-metrics-empty");
  EXPECT_EQ(r.exit_code, 0) << "promtool check metrics failed:\n" << r.output << "\n--- exposition ---\n" << text;
}
