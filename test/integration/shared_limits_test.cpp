// Limits shared through Redis (auth.store, docs/auth.md "Shared limits") against a real
// redis-server, two real gateways and a `modelgate sim`: a key's requests and tokens per minute
// hold in total across both gateways under concurrent load on both; when Redis is SIGKILLed under
// load each failure policy does what it says (no failed request; 503 with its message), and the
// shared limit holds again once Redis is back; a gateway that stops gives back what it leased and
// did not use.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/redis_process.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";

std::string config(std::uint16_t sim_port, const mt::RedisProcess& redis, const std::string& policy,
                   const std::string& limits) {
  return mt::pool_config({sim_port}) + "admin: {address: \"127.0.0.1:0\"}\nauth:\n  store: \"" + redis.url() +
         "\"\n  storeFailure: " + policy + "\n  keys:\n    - {name: shared, key: sk-s, limits: " + limits +
         "}\n";
}

// Minute windows are aligned on the clock: a test counting within one minute starts early in it.
void start_early_in_a_minute(std::chrono::seconds needed) {
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  const auto into = now % 60'000ms;
  if (into > 60s - needed) std::this_thread::sleep_for(60s - into + 200ms);
}

// What came back from a load: answers by status (0: no answer) and the tokens the 200s used.
struct Tally {
  std::mutex mutex;
  std::map<int, int> statuses;
  std::int64_t tokens = 0;
  std::vector<std::string> odd;  // bodies of answers neither 200 nor 429, for the failure message
  int count(int status) {
    std::lock_guard lock(mutex);
    return statuses[status];
  }
  int failed() {
    std::lock_guard lock(mutex);
    int n = 0;
    for (const auto& [status, count] : statuses) n += status == 200 || status == 429 ? 0 : count;
    return n;
  }
};

// `threads` clients on each gateway, each sending `requests` (or until `stop`), `pause` apart.
void load(const std::vector<std::uint16_t>& ports, int threads, int requests, Tally& tally,
          std::chrono::milliseconds pause = 0ms, const std::atomic<bool>* stop = nullptr) {
  std::vector<std::thread> clients;
  for (const auto port : ports) {
    for (int t = 0; t < threads; ++t) {
      clients.emplace_back([&, port] {
        mt::HttpClient c("127.0.0.1", port);
        for (int i = 0; i < requests && !(stop && *stop); ++i) {
          auto r = c.post_json("/v1/chat/completions", mt::chat_json(kQwen, 8),
                               {{"Authorization", "Bearer sk-s"}});
          std::int64_t used = 0;
          if (r.status == 200) {
            mt::Json j(r.body);
            if (j.ok) used = mt::num(j.root["usage"], "total_tokens");
          }
          {
            std::lock_guard lock(tally.mutex);
            ++tally.statuses[r.status];
            tally.tokens += used;
            if (r.status != 200 && r.status != 429 && tally.odd.size() < 3)
              tally.odd.push_back(r.error + r.body);
          }
          if (pause > 0ms) std::this_thread::sleep_for(pause);
        }
      });
    }
  }
  for (auto& c : clients) c.join();
}

bool store_connected(mt::GatewayProcess& gw, bool connected) {
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  const auto body = admin.get("/api/status").body;
  return body.find(std::string("\"connected\":") + (connected ? "true" : "false")) != std::string::npos;
}

}  // namespace

TEST(SharedLimits, RequestsPerMinuteHoldInTotalAcrossTwoGateways) {
  constexpr int kLimit = 150;
  mt::RedisProcess redis;
  mt::SimProcess sim("vm1", {"--models", kQwen});
  const std::string yaml = config(sim.port(), redis, "failClosed", "{requestsPerMinute: 150}");
  mt::GatewayProcess a(yaml), b(yaml);
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(a, true) && store_connected(b, true); }, 5s));
  start_early_in_a_minute(30s);
  Tally tally;
  load({a.port(), b.port()}, 4, 60, tally);  // 480 requests for 150
  const int allowed = tally.count(200);
  std::printf("requestsPerMinute %d across two gateways: %d allowed (%+d), %d refused with 429\n", kLimit,
              allowed, allowed - kLimit, tally.count(429));
  EXPECT_EQ(tally.failed(), 0) << (tally.odd.empty() ? "" : tally.odd.front());
  EXPECT_EQ(allowed, kLimit);
  // Both gateways took part: each leased some of the minute.
  const auto held = redis.cli("--raw HVALS modelgate:limits:shared:requests:" +
                              std::to_string(std::chrono::duration_cast<std::chrono::minutes>(
                                                 std::chrono::system_clock::now().time_since_epoch())
                                                 .count()));
  EXPECT_EQ(std::count(held.begin(), held.end(), '\n'), 2) << held;
}

TEST(SharedLimits, TokensPerMinuteHoldInTotalAcrossTwoGateways) {
  constexpr int kLimit = 3000;
  mt::RedisProcess redis;
  mt::SimProcess sim("vm1", {"--models", kQwen});
  const std::string yaml = config(sim.port(), redis, "failClosed", "{tokensPerMinute: 3000}");
  mt::GatewayProcess a(yaml), b(yaml);
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(a, true) && store_connected(b, true); }, 5s));
  start_early_in_a_minute(30s);
  Tally tally;
  load({a.port(), b.port()}, 4, 80, tally);
  std::printf(
      "tokensPerMinute %d across two gateways: %lld used by %d allowed requests (%+lld), %d refused\n",
      kLimit, static_cast<long long>(tally.tokens), tally.count(200),
      static_cast<long long>(tally.tokens - kLimit), tally.count(429));
  EXPECT_EQ(tally.failed(), 0) << (tally.odd.empty() ? "" : tally.odd.front());
  EXPECT_GT(tally.count(429), 0);
  EXPECT_LE(tally.tokens, kLimit);
  EXPECT_GE(tally.tokens, kLimit * 9 / 10);
}

TEST(SharedLimits, RedisKilledUnderLoadFailOpenFailsNoRequestAndTheLimitHoldsWhenItIsBack) {
  constexpr int kLimit = 600;
  mt::RedisProcess redis;
  mt::SimProcess sim("vm1", {"--models", kQwen});
  const std::string yaml = config(sim.port(), redis, "failOpen", "{requestsPerMinute: 600}");
  mt::GatewayProcess a(yaml), b(yaml);
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(a, true) && store_connected(b, true); }, 5s));
  start_early_in_a_minute(40s);
  Tally tally;
  std::atomic<bool> stop{false};
  std::thread background([&] { load({a.port(), b.port()}, 1, 1'000'000, tally, 40ms, &stop); });
  std::this_thread::sleep_for(800ms);
  redis.kill();
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(a, false) && store_connected(b, false); }, 5s));
  std::this_thread::sleep_for(1s);  // served on each gateway's own limit meanwhile
  redis.start();                    // empty, as a Redis restarted without persistence
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(a, true) && store_connected(b, true); }, 10s));
  stop = true;
  background.join();
  const int before = tally.count(200);
  ASSERT_GT(before, 0);
  ASSERT_LT(before, kLimit);
  EXPECT_EQ(tally.failed(), 0) << (tally.odd.empty() ? "" : tally.odd.front());
  load({a.port(), b.port()}, 4, 150, tally);  // the rest of the minute's limit, then 429
  const int allowed = tally.count(200);
  std::printf(
      "failOpen: %d requests while Redis was killed and restarted, %d allowed in all (%+d), 0 failed\n",
      before, allowed, allowed - kLimit);
  EXPECT_EQ(tally.failed(), 0) << (tally.odd.empty() ? "" : tally.odd.front());
  EXPECT_EQ(allowed, kLimit);
}

TEST(SharedLimits, RedisKilledFailClosedRefusesKeyedRequestsWith503UntilItIsBack) {
  mt::RedisProcess redis;
  mt::SimProcess sim("vm1", {"--models", kQwen});
  mt::GatewayProcess gw(config(sim.port(), redis, "failClosed", "{requestsPerMinute: 100000}"));
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(gw, true); }, 5s));
  Tally tally;  // load on the gateway while Redis dies and comes back: each answer a 200 or the 503
  std::atomic<bool> stop{false};
  std::thread background([&] { load({gw.port()}, 2, 1'000'000, tally, 10ms, &stop); });
  mt::HttpClient c("127.0.0.1", gw.port());
  const mt::Headers key{{"Authorization", "Bearer sk-s"}};
  ASSERT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), key).status, 200);
  redis.kill();
  mt::Response r;
  ASSERT_TRUE(mt::wait_until(
      [&] { return (r = c.post_json("/v1/chat/completions", mt::chat_json(kQwen), key)).status == 503; }, 5s))
      << r.status << " " << r.body;
  mt::Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  EXPECT_EQ(mt::str(j.root["error"], "code"), "limits_store_unavailable");
  EXPECT_NE(mt::str(j.root["error"], "message").find("limits store"), std::string::npos) << r.body;
  EXPECT_EQ(r.header("Retry-After"), "1");

  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  const auto status = admin.get("/api/status").body;
  EXPECT_NE(status.find("\"failure\":\"failClosed\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"connected\":false"), std::string::npos) << status;
  EXPECT_EQ(status.find("\"last_error\":\"\""), std::string::npos) << status;
  EXPECT_NE(admin.get("/metrics").body.find("modelgate_limits_store_connected 0"), std::string::npos);
  EXPECT_TRUE(mt::wait_until([&] { return gw.process().output().find("is unreachable") != std::string::npos; }, 2s));

  redis.start();
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(gw, true); }, 10s));
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), key).status, 200);
  EXPECT_NE(admin.get("/metrics").body.find("modelgate_limits_store_connected 1"), std::string::npos);
  stop = true;
  background.join();
  EXPECT_GT(tally.count(200), 0);
  EXPECT_GT(tally.count(503), 0);
  int others = 0;  // neither served nor refused for the store: none
  for (const auto& [status, n] : tally.statuses) others += status == 200 || status == 503 ? 0 : n;
  EXPECT_EQ(others, 0) << (tally.odd.empty() ? "" : tally.odd.front());
}

TEST(SharedLimits, AGatewayThatStopsGivesBackWhatItLeasedAndDidNotUse) {
  mt::RedisProcess redis;
  mt::SimProcess sim("vm1", {"--models", kQwen});
  mt::GatewayProcess gw(config(sim.port(), redis, "failClosed", "{requestsPerMinute: 1000}"));
  ASSERT_TRUE(mt::wait_until([&] { return store_connected(gw, true); }, 5s));
  start_early_in_a_minute(20s);
  mt::HttpClient c("127.0.0.1", gw.port());
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), {{"Authorization", "Bearer sk-s"}}).status, 200);
  const std::string key = "modelgate:limits:shared:requests:" +
                          std::to_string(std::chrono::duration_cast<std::chrono::minutes>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  EXPECT_EQ(redis.cli("--raw HVALS " + key), "500\n");  // the first lease: half the limit
  gw.process().signal(SIGTERM);
  ASSERT_TRUE(gw.process().wait(10s));
  EXPECT_EQ(redis.cli("--raw HVALS " + key), "3\n");  // what it used
}
