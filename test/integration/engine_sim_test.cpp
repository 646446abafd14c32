// `modelgate sim --engine vllm|sglang` as a real process: the engine model seen from outside.
// The same long prompt twice: the second answer reports its prefix as cached and its first token
// comes much sooner; /metrics under the engine's own names moves accordingly (and parses with
// promtool); a client that hangs up frees its engine slot at once.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <regex>
#include <string>

#include "support/http_client.h"
#include "support/json.h"
#include "support/promtool.h"
#include "support/sim_process.h"

namespace modelgate::test {
namespace {

using namespace std::chrono_literals;

// About 2 000 tokens of system prompt (4 bytes a token), then a short question.
std::string long_chat(std::string_view model, std::string_view question, int max_tokens, bool stream) {
  std::string system;
  for (int i = 0; system.size() < 8000; ++i) system += "rule " + std::to_string(i) + ": be brief. ";
  std::string body = R"({"model":")" + std::string(model) + R"(","messages":[{"role":"system","content":")" +
                     system + R"("},{"role":"user","content":")" + std::string(question) +
                     R"("}],"max_tokens":)" + std::to_string(max_tokens);
  if (stream) body += R"(,"stream":true,"stream_options":{"include_usage":true})";
  return body + "}";
}

// The value of the first sample line starting with `series` (name and labels), -1 if none.
double sample(const std::string& metrics, const std::string& series) {
  std::size_t at = 0;
  while ((at = metrics.find(series, at)) != std::string::npos) {
    if (at == 0 || metrics[at - 1] == '\n') {
      auto space = metrics.find(' ', at + series.size());
      return std::stod(metrics.substr(space + 1, metrics.find('\n', space) - space - 1));
    }
    at += series.size();
  }
  return -1;
}

std::string metrics(HttpClient& client) {
  auto r = client.get("/metrics");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  return r.body;
}

// promtool parses the text; its only complaint may be the ':' in the engines' own names.
void expect_promtool_accepts(const std::string& text) {
  const std::string promtool = find_promtool();
  ASSERT_FALSE(promtool.empty()) << "promtool not found: apt-get install prometheus";
  auto r = promtool_check(promtool, text, "engine-sim-metrics");
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 3) << r.output << "\n---\n" << text;
  static const std::regex colon_lint(R"(^\S+ metric names should not contain ':'$)");
  std::size_t start = 0;
  while (start < r.output.size()) {
    auto end = r.output.find('\n', start);
    if (end == std::string::npos) end = r.output.size();
    std::string line = r.output.substr(start, end - start);
    if (!line.empty()) {
      EXPECT_TRUE(std::regex_match(line, colon_lint)) << line;
    }
    start = end + 1;
  }
}

struct Answer {
  double ttft_ms = 0;
  std::int64_t prompt_tokens = -1, cached_tokens = -1, completion_tokens = -1;
};

Answer streamed(HttpClient& client, const std::string& body) {
  auto s = client.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}}, body);
  Answer a;
  EXPECT_EQ(s.status, 200) << s.error;
  EXPECT_TRUE(s.complete) << s.error;
  if (s.events.size() < 3) {
    ADD_FAILURE() << "too few events: " << s.body;
    return a;
  }
  a.ttft_ms = s.events.front().at.count();
  Json usage(s.events[s.events.size() - 2].data);  // the usage chunk, before [DONE]
  EXPECT_TRUE(usage.ok) << s.events[s.events.size() - 2].data;
  if (!usage.ok) return a;
  simdjson::dom::element u = usage.root["usage"];
  a.prompt_tokens = num(u, "prompt_tokens");
  a.completion_tokens = num(u, "completion_tokens");
  a.cached_tokens = num(u["prompt_tokens_details"], "cached_tokens");
  return a;
}

TEST(SimEngine, SecondSamePromptIsCachedAndItsFirstTokenComesMuchSooner) {
  SimProcess sim("gpu0", {"--engine", "vllm", "--models", "m"});
  HttpClient client("127.0.0.1", sim.port());

  const std::string before = metrics(client);
  EXPECT_EQ(sample(before, R"(vllm:prefix_cache_queries_total{model_name="m"})"), 0) << before;
  EXPECT_EQ(sample(before, R"(vllm:num_requests_running{model_name="m"})"), 0) << before;

  const std::string body = long_chat("m", "What is rule 7?", 4, true);
  Answer first = streamed(client, body);
  Answer second = streamed(client, body);

  EXPECT_GT(first.prompt_tokens, 1900);
  EXPECT_EQ(first.prompt_tokens, second.prompt_tokens);
  EXPECT_EQ(first.completion_tokens, 4);
  EXPECT_EQ(first.cached_tokens, 0);
  EXPECT_GT(second.cached_tokens, first.prompt_tokens - 17);  // all but the last block
  EXPECT_LT(second.cached_tokens, first.prompt_tokens);
  // ~2 000 uncached tokens at 8 000 tokens/s: 250 ms; cached: one block, about 8 ms.
  EXPECT_GT(first.ttft_ms, 240);
  EXPECT_LT(second.ttft_ms, first.ttft_ms / 4) << "first " << first.ttft_ms << " ms";

  const std::string after = metrics(client);
  const std::string m = R"({model_name="m"})";
  EXPECT_EQ(sample(after, "vllm:prefix_cache_queries_total" + m), 2.0 * first.prompt_tokens) << after;
  EXPECT_EQ(sample(after, "vllm:prefix_cache_hits_total" + m), second.cached_tokens) << after;
  EXPECT_EQ(sample(after, "vllm:time_to_first_token_seconds_count" + m), 2) << after;
  EXPECT_EQ(sample(after, R"(vllm:time_to_first_token_seconds_bucket{model_name="m",le="0.1"})"), 1) << after;
  EXPECT_EQ(sample(after, "vllm:num_requests_running" + m), 0) << after;
  EXPECT_EQ(sample(after, "vllm:num_requests_waiting" + m), 0) << after;
  EXPECT_EQ(sample(after, "vllm:kv_cache_usage_perc" + m), 0) << after;
  // The KV size, as vLLM publishes it: the default 65 536 tokens in blocks of 16.
  EXPECT_EQ(sample(after, R"(vllm:cache_config_info{model_name="m",block_size="16",num_gpu_blocks="4096"})"), 1)
      << after;
  expect_promtool_accepts(after);
}

TEST(SimEngine, NonStreamedAnswerReportsCachedTokens) {
  SimProcess sim("gpu0", {"--engine", "vllm", "--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  for (int round = 0; round < 2; ++round) {
    auto r = client.post_json("/v1/chat/completions", long_chat("m", "Why?", 3, false));
    ASSERT_EQ(r.status, 200) << r.error;
    Json j(r.body);
    ASSERT_TRUE(j.ok) << r.body;
    simdjson::dom::element u = j.root["usage"];
    EXPECT_EQ(num(u, "completion_tokens"), 3);
    EXPECT_EQ(str(j.root["choices"].at(0)["message"], "content"), "token1 token2 token3 ");
    const auto cached = num(u["prompt_tokens_details"], "cached_tokens");
    if (round == 0) {
      EXPECT_EQ(cached, 0) << r.body;
    } else {
      EXPECT_GT(cached, num(u, "prompt_tokens") - 17) << r.body;
    }
  }
}

TEST(SimEngine, SglangNamesItsMetricsItsOwnWay) {
  SimProcess sim("gpu1", {"--engine", "sglang", "--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  const std::string body = long_chat("m", "Again?", 2, false);
  ASSERT_EQ(client.post_json("/v1/chat/completions", body).status, 200);
  ASSERT_EQ(client.post_json("/v1/chat/completions", body).status, 200);
  const std::string text = metrics(client);
  const std::string m = R"({model_name="m"})";
  EXPECT_EQ(sample(text, "sglang:num_running_reqs" + m), 0) << text;
  EXPECT_EQ(sample(text, "sglang:num_queue_reqs" + m), 0) << text;
  EXPECT_EQ(sample(text, "sglang:token_usage" + m), 0) << text;
  const double rate = sample(text, "sglang:cache_hit_rate" + m);
  EXPECT_GT(rate, 0.45) << text;  // about half of all prompt tokens: the second request's
  EXPECT_LT(rate, 0.5) << text;
  EXPECT_EQ(text.find("vllm:"), std::string::npos);
  expect_promtool_accepts(text);
}

TEST(SimEngine, ClientThatHangsUpFreesItsSlotAtOnce) {
  SimProcess sim("gpu0", {"--engine", "vllm", "--models", "m", "--max-running", "1"});
  HttpClient streaming("127.0.0.1", sim.port());
  HttpClient client("127.0.0.1", sim.port());
  StreamOptions stop;
  stop.stop_after_events = 2;
  // 50 000 tokens would hold the only slot for five minutes.
  auto s = streaming.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                            R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":50000,"stream":true})",
                            stop);
  ASSERT_EQ(s.status, 200) << s.error;
  ASSERT_EQ(s.events.size(), 2u);
  const auto start = std::chrono::steady_clock::now();
  auto r = client.post_json("/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"next"}],"max_tokens":2})");
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_TRUE(wait_until([&] { return sample(metrics(client), R"(vllm:num_requests_running{model_name="m"})") == 0; }, 5s));
  EXPECT_EQ(sample(metrics(client), R"(vllm:kv_cache_usage_perc{model_name="m"})"), 0);
}

TEST(SimEngine, RequestsBeyondMaxRunningWaitAndShowInTheMetrics) {
  SimProcess sim("gpu0", {"--engine", "vllm", "--models", "m", "--max-running", "1"});
  HttpClient probe("127.0.0.1", sim.port());
  auto gauge = [&](const char* name) {
    return sample(metrics(probe), std::string(name) + R"({model_name="m"})");
  };
  auto ask = [&](int max_tokens) {
    return std::async(std::launch::async, [port = sim.port(), max_tokens] {
      HttpClient c("127.0.0.1", port);
      return c.post_json("/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":)" +
                                                     std::to_string(max_tokens) + "}");
    });
  };
  auto first = ask(300);  // about 2 s of decoding
  ASSERT_TRUE(wait_until([&] { return gauge("vllm:num_requests_running") == 1; }, 5s));
  auto second = ask(1);
  EXPECT_TRUE(wait_until([&] { return gauge("vllm:num_requests_waiting") == 1; }, 5s));
  EXPECT_EQ(gauge("vllm:num_requests_running"), 1);
  EXPECT_GT(gauge("vllm:kv_cache_usage_perc"), 0);
  EXPECT_EQ(first.get().status, 200);
  EXPECT_EQ(second.get().status, 200);
  EXPECT_EQ(gauge("vllm:num_requests_waiting"), 0);
}

TEST(SimEngine, FaultOptionsKeepWorking) {
  SimProcess sim("gpu0", {"--engine", "vllm", "--models", "m", "--stall-after-chunks", "2"});
  HttpClient client("127.0.0.1", sim.port(), 1s);
  auto forced = client.post_json("/v1/chat/completions", long_chat("m", "?", 1, false), {{"X-Sim-Status", "503"}});
  EXPECT_EQ(forced.status, 503);
  StreamOptions opts;
  opts.timeout = 1s;
  auto s = client.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                         R"({"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5,"stream":true})",
                         opts);
  EXPECT_EQ(s.status, 200) << s.error;
  EXPECT_FALSE(s.complete);
  EXPECT_EQ(s.events.size(), 2u) << s.body;
}

TEST(SimEngine, RequestLargerThanTheCacheIsRefusedWithAHint) {
  SimProcess sim("gpu0", {"--engine", "vllm", "--models", "m", "--kv-cache-tokens", "1024"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.post_json("/v1/chat/completions", long_chat("m", "?", 1, false));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("--kv-cache-tokens"), std::string::npos) << r.body;
  EXPECT_EQ(client.get("/health").status, 200);
}

TEST(SimEngine, WithoutEngineThereIsNoMetricsEndpoint) {
  SimProcess sim("vm02", {"--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  EXPECT_EQ(client.get("/metrics").status, 404);
}

}  // namespace
}  // namespace modelgate::test
