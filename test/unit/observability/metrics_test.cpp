#include "observability/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

namespace mo = modelgate::observability;
using namespace std::chrono_literals;

namespace {

mo::RequestRecord request(std::string model, int status = 200, std::chrono::nanoseconds duration = 100ms,
                          std::string router = "chat", std::string service = "llm") {
  mo::RequestRecord r;
  r.router = std::move(router);
  r.service = std::move(service);
  r.model = std::move(model);
  r.status = status;
  r.duration = duration;
  r.attempts = 1;
  return r;
}

// The value of the sample line that starts with `prefix` (name and labels), or -1.
double value(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.size() > prefix.size() && line.compare(0, prefix.size(), prefix) == 0 && line[prefix.size()] == ' ')
      return std::stod(line.substr(prefix.size() + 1));
  }
  return -1;
}

}  // namespace

TEST(Metrics, CountsRequestsByLabels) {
  mo::Metrics m(2);
  m.shard(0).record(request("qwen"));
  m.shard(0).record(request("qwen"));
  m.shard(1).record(request("qwen"));
  m.shard(1).record(request("qwen", 502));
  m.shard(1).record(request("glm", 200, 1s, "other-router", "svc2"));
  const auto text = m.render_prometheus();
  EXPECT_EQ(value(text, R"(modelgate_requests_total{router="chat",service="llm",model="qwen",code="200"})"), 3);
  EXPECT_EQ(value(text, R"(modelgate_requests_total{router="chat",service="llm",model="qwen",code="502"})"), 1);
  EXPECT_EQ(value(text, R"(modelgate_requests_total{router="other-router",service="svc2",model="glm",code="200"})"),
            1);
  EXPECT_EQ(value(text, R"(modelgate_request_duration_seconds_count{router="chat",service="llm",model="qwen"})"), 4);
}

TEST(Metrics, HistogramBucketsAreCumulativeAndInclusive) {
  mo::Metrics m(1);
  for (auto d : {4ms, 5ms, 300ms}) m.shard(0).record(request("q", 200, d));
  m.shard(0).record(request("q", 200, 400s));
  m.shard(0).record(request("q", 200, -1ms));  // a clock step backwards counts as 0
  const auto text = m.render_prometheus();
  const std::string b = R"(modelgate_request_duration_seconds_bucket{router="chat",service="llm",model="q",le=")";
  EXPECT_EQ(value(text, b + R"(0.005"})"), 3);  // 0, 4 ms and exactly 5 ms
  EXPECT_EQ(value(text, b + R"(0.01"})"), 3);
  EXPECT_EQ(value(text, b + R"(0.25"})"), 3);
  EXPECT_EQ(value(text, b + R"(0.5"})"), 4);
  EXPECT_EQ(value(text, b + R"(300"})"), 4);
  EXPECT_EQ(value(text, b + R"(+Inf"})"), 5);
  EXPECT_EQ(value(text, R"(modelgate_request_duration_seconds_count{router="chat",service="llm",model="q"})"), 5);
  EXPECT_DOUBLE_EQ(value(text, R"(modelgate_request_duration_seconds_sum{router="chat",service="llm",model="q"})"),
                   400.309);
  // Every bound appears once, in increasing order, +Inf last.
  std::regex le(R"(le="([^"]+)\")");
  std::vector<std::string> bounds;
  for (std::sregex_iterator it(text.begin(), text.end(), le), end; it != end; ++it) bounds.push_back((*it)[1]);
  ASSERT_EQ(bounds.size(), mo::kLatencyBucketsSeconds.size() + 1);
  EXPECT_EQ(bounds.front(), "0.005");
  EXPECT_EQ(bounds.back(), "+Inf");
}

TEST(Metrics, StreamTokensRetriesAndReloads) {
  mo::Metrics m(2);
  auto r = request("qwen");
  r.stream = true;
  r.ttft = 30ms;
  r.prompt_tokens = 12;
  r.completion_tokens = 7;
  r.attempts = 3;
  m.shard(0).record(r);
  r.router = "second";  // same service and model through another router: summed
  m.shard(1).record(r);
  m.shard(1).record(request("glm"));  // no tokens, no stream
  m.config_reload(true);
  m.config_reload(false);
  m.config_reload(true);
  const auto text = m.render_prometheus();
  EXPECT_EQ(value(text, R"(modelgate_time_to_first_token_seconds_count{service="llm",model="qwen"})"), 2);
  EXPECT_EQ(value(text, R"(modelgate_time_to_first_token_seconds_bucket{service="llm",model="qwen",le="0.025"})"), 0);
  EXPECT_EQ(value(text, R"(modelgate_time_to_first_token_seconds_bucket{service="llm",model="qwen",le="0.05"})"), 2);
  EXPECT_EQ(text.find(R"(modelgate_time_to_first_token_seconds_count{service="llm",model="glm"})"), std::string::npos);
  EXPECT_EQ(value(text, R"(modelgate_tokens_total{model="qwen",kind="prompt"})"), 24);
  EXPECT_EQ(value(text, R"(modelgate_tokens_total{model="qwen",kind="completion"})"), 14);
  EXPECT_EQ(text.find(R"(modelgate_tokens_total{model="glm")"), std::string::npos);
  EXPECT_EQ(value(text, R"(modelgate_retries_total{service="llm"})"), 4);
  EXPECT_EQ(value(text, R"(modelgate_config_reloads_total{result="success"})"), 2);
  EXPECT_EQ(value(text, R"(modelgate_config_reloads_total{result="failure"})"), 1);
}

TEST(Metrics, ExtraGaugesAndProcessMetrics) {
  mo::Metrics m(1);
  mo::ExtraGauges g;
  g.servers.push_back({"llm", "http://10.0.0.1:8000", true, 4});
  g.servers.push_back({"llm", "http://10.0.0.2:8000", false, 0});
  g.access_log_dropped = 9;
  const auto text = m.render_prometheus(g);
  EXPECT_EQ(value(text, R"(modelgate_server_up{service="llm",server="http://10.0.0.1:8000"})"), 1);
  EXPECT_EQ(value(text, R"(modelgate_server_up{service="llm",server="http://10.0.0.2:8000"})"), 0);
  EXPECT_EQ(value(text, R"(modelgate_server_inflight{service="llm",server="http://10.0.0.1:8000"})"), 4);
  EXPECT_EQ(value(text, "modelgate_access_log_dropped_total"), 9);
  EXPECT_GT(value(text, "process_resident_memory_bytes"), 0);
  EXPECT_GT(value(text, "process_virtual_memory_bytes"), 0);
  EXPECT_GT(value(text, "process_open_fds"), 2);
  EXPECT_GE(value(text, "process_max_fds"), 0);
  EXPECT_GE(value(text, "process_cpu_seconds_total"), 0);
  const double start = value(text, "process_start_time_seconds");
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(start, now - 3600);
  EXPECT_LE(start, now + 1);
}

TEST(Metrics, EscapesLabelValues) {
  std::string out;
  mo::append_label_value(out, "a\"b\\c\nd");
  EXPECT_EQ(out, R"(a\"b\\c\nd)");
  out.clear();
  mo::append_label_value(out, "caf\xc3\xa9 \xff x \xe2\x82");  // valid é, a stray byte, a cut sequence
  EXPECT_EQ(out, "caf\xc3\xa9 \xef\xbf\xbd x \xef\xbf\xbd\xef\xbf\xbd");

  mo::Metrics m(1);
  m.shard(0).record(request("evil\"} 1\nfake_metric 2"));
  const auto text = m.render_prometheus();
  EXPECT_NE(text.find(R"(model="evil\"} 1\nfake_metric 2",code="200"} 1)"), std::string::npos);
  EXPECT_EQ(text.find("\nfake_metric"), std::string::npos);
}

TEST(Metrics, CapsDistinctModelsPerShard) {
  mo::Metrics m(2, mo::Metrics::Options{.max_models = 2});
  for (const char* model : {"a", "b", "c", "d", "a", "c"}) m.shard(0).record(request(model));
  m.shard(1).record(request("c"));  // the cap is per shard
  const auto text = m.render_prometheus();
  const std::string p = R"(modelgate_requests_total{router="chat",service="llm",model=")";
  EXPECT_EQ(value(text, p + R"(a",code="200"})"), 2);
  EXPECT_EQ(value(text, p + R"(b",code="200"})"), 1);
  EXPECT_EQ(value(text, p + R"(other",code="200"})"), 3);
  EXPECT_EQ(value(text, p + R"(c",code="200"})"), 1);
  EXPECT_EQ(value(text, p + R"(d",code="200"})"), -1);
}

TEST(Metrics, ManyLabelCombinationsGrowTheIndex) {
  mo::Metrics m(1);
  for (int round = 0; round < 2; ++round)
    for (int i = 0; i < 500; ++i) m.shard(0).record(request("model-" + std::to_string(i), 200 + i % 3));
  const auto text = m.render_prometheus();
  EXPECT_EQ(value(text, R"(modelgate_requests_total{router="chat",service="llm",model="model-7",code="201"})"), 2);
  EXPECT_EQ(value(text, R"(modelgate_requests_total{router="chat",service="llm",model="model-499",code="201"})"), 2);
}

TEST(Metrics, RendersWhileWorkersRecord) {
  constexpr unsigned kWorkers = 4;
  constexpr int kPerWorker = 20000;
  mo::Metrics m(kWorkers);
  std::atomic<bool> done{false};
  std::thread scraper([&] {
    double last = -1;  // -1: not recorded yet
    while (!done.load()) {
      const auto text = m.render_prometheus();
      // Counters never go backwards between scrapes.
      const double now = value(text, R"(modelgate_requests_total{router="chat",service="llm",model="m0",code="200"})");
      EXPECT_GE(now, last);
      last = now;
    }
  });
  std::vector<std::thread> workers;
  for (unsigned w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      auto& shard = m.shard(w);
      for (int i = 0; i < kPerWorker; ++i) {
        auto r = request("m" + std::to_string(i % 3), 200, std::chrono::milliseconds(i % 1000));
        r.prompt_tokens = 1;
        r.worker = w;
        shard.record(r);
      }
    });
  }
  for (auto& t : workers) t.join();
  done = true;
  scraper.join();
  const auto text = m.render_prometheus();
  double total = 0;
  for (int i = 0; i < 3; ++i)
    total += value(text, R"(modelgate_requests_total{router="chat",service="llm",model="m)" + std::to_string(i) +
                             R"(",code="200"})");
  EXPECT_EQ(total, kWorkers * kPerWorker);
  double tokens = 0;
  for (int i = 0; i < 3; ++i)
    tokens += value(text, R"(modelgate_tokens_total{model="m)" + std::to_string(i) + R"(",kind="prompt"})");
  EXPECT_EQ(tokens, kWorkers * kPerWorker);
}

TEST(Metrics, ExpositionFormatShape) {
  mo::Metrics m(2);
  auto r = request("qwen");
  r.stream = true;
  r.ttft = 1ms;
  r.prompt_tokens = 1;
  r.completion_tokens = 1;
  r.attempts = 2;
  m.shard(0).record(r);
  m.shard(1).record(request("glm", 404));
  mo::ExtraGauges g;
  g.servers.push_back({"llm", "http://a", true, 1});
  const auto text = m.render_prometheus(g);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');

  const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*)");
  const std::regex type(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram))");
  const std::regex sample(
      R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\[\\"n])*",?)*\})? ([-+]?[0-9.eE+-]+|\+Inf|NaN))");
  std::set<std::string> families;
  std::string current, current_type;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::smatch mt;
    if (std::regex_match(line, mt, help)) {
      EXPECT_TRUE(families.insert(mt[1]).second) << "family twice: " << line;
      current = mt[1];
      std::string next;
      ASSERT_TRUE(std::getline(in, next));
      ASSERT_TRUE(std::regex_match(next, mt, type)) << next;
      EXPECT_EQ(mt[1], current);
      current_type = mt[2];
      continue;
    }
    ASSERT_TRUE(std::regex_match(line, mt, sample)) << "not a sample: " << line;
    const std::string name = mt[1];
    if (current_type == "histogram") {
      EXPECT_TRUE(name == current + "_bucket" || name == current + "_sum" || name == current + "_count") << line;
    } else {
      EXPECT_EQ(name, current) << line;
    }
    if (current_type == "counter") {
      EXPECT_TRUE(name.ends_with("_total")) << line;
    }
  }
  for (const char* f : {"modelgate_requests_total", "modelgate_request_duration_seconds",
                        "modelgate_time_to_first_token_seconds", "modelgate_tokens_total", "modelgate_retries_total",
                        "modelgate_config_reloads_total", "modelgate_server_up", "modelgate_server_inflight",
                        "process_cpu_seconds_total", "process_resident_memory_bytes",
                        "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                        "process_start_time_seconds"})
    EXPECT_TRUE(families.count(f)) << f;
}
