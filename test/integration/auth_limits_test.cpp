// The limits of API keys against the real gateway and `modelgate sim`s (docs/auth.md): each
// limit's 429 in OpenAI's shape with Retry-After and the x-ratelimit-* headers, the concurrency
// limit, the metrics by key name, and a day's budget that stays spent across a restart.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <future>
#include <regex>
#include <string>
#include <thread>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";

mt::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

// The pool of gateway_process.h, with the admin API on a free port and `keys` as auth.keys.
std::string config(const std::string& dir, std::uint16_t sim_port, const std::string& keys,
                   const std::string& lb_extra = "") {
  return mt::pool_config({sim_port}, lb_extra) + "admin: {address: \"127.0.0.1:0\"}\nauth:\n  budgetsFile: " + dir +
         "/budgets.sqlite\n  keys:\n" + keys;
}

// Minute windows are aligned on the clock: a test counting within one minute starts early in it.
void start_early_in_a_minute() {
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto into = std::chrono::duration_cast<std::chrono::milliseconds>(now) % 60'000ms;
  if (into > 50s) std::this_thread::sleep_for(60s - into + 100ms);
}

const std::regex kResetFormat(R"(^(\d+ms|(\d+h)?(\d+m)?\d+(\.\d+)?s)$)");

void expect_rate_limited(const mt::Response& r, std::string_view limit) {
  ASSERT_EQ(r.status, 429) << r.body;
  mt::Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  EXPECT_EQ(mt::str(j.root["error"], "code"), "rate_limit_exceeded");
  EXPECT_NE(mt::str(j.root["error"], "message").find(limit), std::string::npos) << r.body;
  ASSERT_TRUE(r.has_header("Retry-After"));
  EXPECT_GE(std::stoi(r.header("Retry-After")), 1);
}

}  // namespace

TEST(AuthLimits, RequestsPerMinuteAdmitExactlyTheLimitWithOpenAiHeaders) {
  const std::string dir = mt::temp_dir();
  mt::SimProcess sim("vm1", {"--models", kQwen});
  mt::GatewayProcess gw(config(dir, sim.port(), "    - {name: limited, key: sk-l, limits: {requestsPerMinute: 3}}\n"));
  mt::HttpClient c("127.0.0.1", gw.port());
  start_early_in_a_minute();
  for (int i = 0; i < 3; ++i) {
    auto r = c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-l"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("x-ratelimit-limit-requests"), "3");
    EXPECT_EQ(r.header("x-ratelimit-remaining-requests"), std::to_string(2 - i));
    EXPECT_TRUE(std::regex_match(r.header("x-ratelimit-reset-requests"), kResetFormat))
        << r.header("x-ratelimit-reset-requests");
    EXPECT_FALSE(r.has_header("x-ratelimit-limit-tokens"));  // no tokensPerMinute
  }
  auto refused = c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-l"));
  expect_rate_limited(refused, "requestsPerMinute is 3");
  EXPECT_EQ(refused.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_LE(std::stoi(refused.header("Retry-After")), 60);

  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  const auto metrics = admin.get("/metrics").body;
  EXPECT_NE(metrics.find("modelgate_key_rejected_total{key=\"limited\",limit=\"requestsPerMinute\"} 1"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("modelgate_key_requests_total{key=\"limited\"} 3"), std::string::npos) << metrics;
}

TEST(AuthLimits, AnswersNotForwardedCarryTheHeadersAndTakeNothing) {
  const std::string dir = mt::temp_dir();
  mt::SimProcess sim("vm1", {"--models", kQwen});
  mt::GatewayProcess gw(config(dir, sim.port(),
                               "    - {name: narrow, key: sk-n, models: [\"glm*\"], limits: {requestsPerMinute: 5, "
                               "tokensPerMinute: 1000}}\n    - {name: all, key: sk-all}\n",
                               "        discoverModels: {interval: 150ms}\n"));  // the gateway lists the models
  mt::HttpClient c("127.0.0.1", gw.port());
  ASSERT_TRUE(mt::wait_until(
      [&] { return c.get("/v1/models", bearer("sk-all")).body.find(kQwen) != std::string::npos; }, 5000ms));
  start_early_in_a_minute();
  for (int i = 0; i < 2; ++i) {
    auto refused = c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-n"));
    ASSERT_EQ(refused.status, 403) << refused.body;
    EXPECT_EQ(refused.header("x-ratelimit-limit-requests"), "5");
    EXPECT_EQ(refused.header("x-ratelimit-remaining-requests"), "5");  // a 403 takes nothing
    EXPECT_EQ(refused.header("x-ratelimit-limit-tokens"), "1000");
    EXPECT_EQ(refused.header("x-ratelimit-remaining-tokens"), "1000");
    EXPECT_TRUE(std::regex_match(refused.header("x-ratelimit-reset-requests"), kResetFormat));
  }
  auto list = c.get("/v1/models", bearer("sk-n"));
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.header("x-ratelimit-limit-requests"), "5");
  EXPECT_EQ(list.header("x-ratelimit-remaining-requests"), "5");
}

TEST(AuthLimits, TokensPerMinuteCountTheEstimateThenTheUsage) {
  const std::string dir = mt::temp_dir();
  mt::SimProcess sim("vm1", {"--models", kQwen});
  mt::GatewayProcess gw(config(dir, sim.port(), "    - {name: tokens, key: sk-t, limits: {tokensPerMinute: 120}}\n"));
  mt::HttpClient c("127.0.0.1", gw.port());
  start_early_in_a_minute();
  int admitted = 0;
  mt::Response r;
  for (int i = 0; i < 50; ++i) {
    r = c.post_json("/v1/chat/completions", mt::chat_json(kQwen, 8), bearer("sk-t"));
    if (r.status != 200) break;
    ++admitted;
    EXPECT_EQ(r.header("x-ratelimit-limit-tokens"), "120");
    EXPECT_TRUE(std::regex_match(r.header("x-ratelimit-reset-tokens"), kResetFormat));
  }
  EXPECT_GE(admitted, 1);
  EXPECT_LT(admitted, 50);
  expect_rate_limited(r, "tokensPerMinute is 120");
  EXPECT_TRUE(r.has_header("x-ratelimit-remaining-tokens"));

  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  const auto metrics = admin.get("/metrics").body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(metrics, m, std::regex(R"(modelgate_key_tokens_total\{key="tokens",kind="completion"\} (\d+))")))
      << metrics;
  EXPECT_EQ(std::stoi(m[1]), admitted * 8);  // from the answers' usage
}

TEST(AuthLimits, ConcurrencyRefusesTheRequestOverTheLimitUntilOneEnds) {
  const std::string dir = mt::temp_dir();
  mt::SimProcess sim("vm1", {"--models", kQwen, "--ttft-ms", "1500"});
  mt::GatewayProcess gw(config(dir, sim.port(), "    - {name: one, key: sk-one, limits: {concurrency: 1}}\n"));
  auto slow = std::async(std::launch::async, [&] {
    mt::HttpClient c("127.0.0.1", gw.port());
    return c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-one")).status;
  });
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  ASSERT_TRUE(mt::wait_until(
      [&] { return admin.get("/metrics").body.find("modelgate_key_inflight{key=\"one\"} 1") != std::string::npos; }, 5s));
  mt::HttpClient c("127.0.0.1", gw.port());
  expect_rate_limited(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-one")), "concurrency is 1");
  EXPECT_EQ(slow.get(), 200);
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-one")).status, 200);
}

TEST(AuthLimits, ADaysBudgetStaysSpentAcrossARestart) {
  const std::string dir = mt::temp_dir();
  mt::SimProcess sim("vm1", {"--models", kQwen});
  const std::string yaml = config(dir, sim.port(), "    - {name: budget, key: sk-b, limits: {tokensPerDay: 100}}\n");
  {
    mt::GatewayProcess gw(yaml);
    mt::HttpClient c("127.0.0.1", gw.port());
    mt::Response r;
    for (int i = 0; i < 50; ++i) {
      r = c.post_json("/v1/chat/completions", mt::chat_json(kQwen, 16), bearer("sk-b"));
      if (r.status != 200) break;
    }
    expect_rate_limited(r, "tokensPerDay is 100");
    // Written once a second by the control thread (and at a clean stop): let one flush pass.
    std::this_thread::sleep_for(1500ms);
  }
  mt::GatewayProcess again(yaml);
  mt::HttpClient c("127.0.0.1", again.port());
  expect_rate_limited(c.post_json("/v1/chat/completions", mt::chat_json(kQwen, 16), bearer("sk-b")), "tokensPerDay is 100");
}
