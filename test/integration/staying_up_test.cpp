// Staying up: the gateway in front of real `modelgate sim` processes while servers die, come
// back, fail, stall, or are slow; each balancing strategy's distribution; client disconnects;
// timeouts; maxConnections; drain; graceful shutdown. Every sim and gateway binds port 0 (a sim
// restarted after a SIGKILL takes the port it had), every wait is bounded, and each test runs for
// at most a few seconds.
#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <latch>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/sim_stats.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr const char* kModel = "Qwen2.5-0.5B-Instruct";

std::string chat(bool stream = false, int max_tokens = 4) {
  std::string body = "{\"model\":\"" + std::string(kModel) + "\",\"stream\":" + (stream ? "true" : "false");
  if (max_tokens > 0) body += ",\"max_tokens\":" + std::to_string(max_tokens);
  return body + ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";
}

const mt::Headers kJson = {{"Content-Type", "application/json"}};

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// One server of the service: its port and further flow-map keys ("weight: 3", "backup: true").
struct Upstream {
  std::uint16_t port;
  std::string options;
};

// One entry point `web` on a free port, the admin API off (no fixed port), `/ping` on, and one
// router sending everything to service `pool`. `lb`: lines under loadBalancer; `entry`: lines
// under entryPoints.web; `top`: top-level lines.
std::string gateway_config(const std::vector<Upstream>& servers, const std::vector<std::string>& lb = {},
                           const std::vector<std::string>& entry = {},
                           const std::vector<std::string>& top = {}) {
  std::string y = "admin: {enabled: false}\nping: {}\n";
  for (const auto& line : top) y += line + "\n";
  y += "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n";
  for (const auto& line : entry) y += "    " + line + "\n";
  y += R"y(http:
  routers:
    all:
      rule: "PathPrefix(`/`)"
      service: pool
  services:
    pool:
      loadBalancer:
)y";
  for (const auto& line : lb) y += "        " + line + "\n";
  y += "        servers:\n";
  for (const auto& s : servers) {
    y += "          - {url: " + url(s.port) + (s.options.empty() ? "" : ", " + s.options) + "}\n";
  }
  return y;
}

using mt::sim_stat;
using mt::wait_until;

struct Spread {
  std::map<std::string, int> by_server;  // X-Served-By → answers
  int errors = 0;
  std::string first_error;
};

// `requests` non-streaming requests from `clients` threads (each on its own kept-alive
// connection), counted by the server that answered.
Spread spread(std::uint16_t port, int requests, int clients, const std::string& body = chat(),
              const std::function<mt::Headers(int)>& headers = {}) {
  Spread out;
  std::mutex mutex;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      mt::HttpClient client("127.0.0.1", port, 10s);
      for (int i = next++; i < requests; i = next++) {
        auto r = client.post_json("/v1/chat/completions", body, headers ? headers(i) : mt::Headers{});
        std::lock_guard lock(mutex);
        if (r.status != 200) {
          if (out.errors++ == 0) out.first_error = std::to_string(r.status) + " " + r.body + r.error;
          continue;
        }
        ++out.by_server[r.header("X-Served-By")];
      }
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

std::string served_by(mt::HttpClient& client, const mt::Headers& headers = {}) {
  auto r = client.post_json("/v1/chat/completions", chat(), headers);
  if (r.status != 200) return "error " + std::to_string(r.status) + ": " + r.body + r.error;
  return r.header("X-Served-By");
}

bool ends_with_error_event(const mt::StreamResult& s) {
  return !s.events.empty() && s.events.back().data.find("\"error\"") != std::string::npos;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Chaos: a server is SIGKILLed under load and restarted on the same port.

TEST(Chaos, ServerKilledAndRestartedUnderLoad) {
  mt::SimProcess a("a", {"--tpot-ms", "5"});
  auto b = std::make_unique<mt::SimProcess>("b", std::vector<std::string>{"--tpot-ms", "5"});
  const std::uint16_t b_port = b->port();
  mt::GatewayProcess gw(gateway_config({{a.port(), ""}, {b_port, ""}},
                                       {"healthCheck: {interval: 300ms, timeout: 200ms, fall: 1, rise: 1}",
                                        "passiveHealth: {consecutiveFailures: 1, baseEjection: 500ms}",
                                        "retry: {attempts: 3}"}));
  constexpr int kPlain = 32, kStreaming = 4;
  constexpr auto kRun = 6000ms, kKillAt = 1500ms, kRestartAt = 3500ms;
  constexpr double kInterval = 300;

  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> b2_first_ns{-1};  // first answer of the restarted server, since t0
  std::mutex mutex;
  std::map<std::string, int> plain_by_server;
  int plain_failed = 0, streams_done = 0, streams_cut = 0, streams_bad = 0;
  std::vector<std::string> failures;
  const auto t0 = Clock::now();

  std::vector<std::thread> threads;
  for (int c = 0; c < kPlain; ++c) {
    threads.emplace_back([&] {
      mt::HttpClient client("127.0.0.1", gw.port(), 5s);
      while (!stop) {
        auto r = client.post_json("/v1/chat/completions", chat(false, 8));
        const auto at = Clock::now() - t0;
        const std::string by = r.header("X-Served-By");
        if (r.status == 200 && by == "b2") {
          std::int64_t expected = -1;
          b2_first_ns.compare_exchange_strong(expected, std::chrono::nanoseconds(at).count());
        }
        std::lock_guard lock(mutex);
        if (r.status == 200) {
          ++plain_by_server[by];
        } else {
          ++plain_failed;
          if (failures.size() < 5)
            failures.push_back(std::to_string(std::chrono::duration_cast<milliseconds>(at).count()) + " ms: " +
                               std::to_string(r.status) + " " + r.body + r.error);
        }
      }
    });
  }
  for (int c = 0; c < kStreaming; ++c) {
    threads.emplace_back([&] {
      mt::HttpClient client("127.0.0.1", gw.port());
      while (!stop) {
        // 60 tokens at 5 ms: a stream of about 300 ms, so some are running when the kill comes.
        auto s = client.stream("POST", "/v1/chat/completions", kJson, chat(true, 60), {.timeout = 5s});
        std::lock_guard lock(mutex);
        if (s.status == 200 && s.complete && !s.events.empty() && s.events.back().data == "[DONE]") {
          ++streams_done;
        } else if (s.status == 200 && s.complete && ends_with_error_event(s)) {
          ++streams_cut;
        } else {
          ++streams_bad;
          if (failures.size() < 10)
            failures.push_back("stream: status " + std::to_string(s.status) + ", complete " +
                               std::to_string(s.complete) + ", error \"" + s.error + "\", last event \"" +
                               (s.events.empty() ? std::string() : s.events.back().data) + "\"");
        }
      }
    });
  }

  std::this_thread::sleep_until(t0 + kKillAt);
  b->process().kill();
  b->process().wait(2s);
  const std::int64_t b_before_kill = [&] {
    std::lock_guard lock(mutex);
    return plain_by_server["b"];
  }();

  std::this_thread::sleep_until(t0 + kRestartAt);
  // The same port: the gateway's configuration still names it. Spawned from this (the test's)
  // thread, as Process requires.
  mt::Process b2(MODELGATE_BIN,
                 {"sim", "--listen", "127.0.0.1:" + std::to_string(b_port), "--name", "b2", "--tpot-ms", "5"});
  auto listening = b2.wait_for_line(std::regex("listening on"), 5s);
  const auto restarted = Clock::now();
  EXPECT_TRUE(listening) << "the restarted sim did not come up on port " << b_port << ":\n" << b2.output();

  std::this_thread::sleep_until(t0 + kRun);
  stop = true;
  for (auto& t : threads) t.join();

  std::string report;
  for (const auto& f : failures) report += "\n  " + f;
  EXPECT_EQ(plain_failed, 0) << "non-streaming requests failed while a server was killed:" << report
                             << "\ngateway output:\n" << gw.process().output();
  EXPECT_EQ(streams_bad, 0) << "streams neither completed nor ended with an error event:" << report;
  EXPECT_GT(streams_done + streams_cut, 0);
  EXPECT_GT(b_before_kill, 0) << "b served nothing before it was killed";
  EXPECT_GT(plain_by_server["a"], 0);
  ASSERT_GE(b2_first_ns.load(), 0) << "the restarted server never received traffic";
  const double back_after =
      std::chrono::duration<double, std::milli>(t0 + std::chrono::nanoseconds(b2_first_ns.load()) - restarted).count();
  // Two health-check intervals, plus the ~40 ms the answering request itself took.
  EXPECT_LT(back_after, 2 * kInterval + 100) << "the restarted server got traffic back too late";
  std::cout << "[ chaos    ] non-streaming: a " << plain_by_server["a"] << ", b " << plain_by_server["b"]
            << ", b2 " << plain_by_server["b2"] << ", failed " << plain_failed << "; streams: " << streams_done
            << " completed, " << streams_cut << " cut with an error event, " << streams_bad
            << " bad; b2 first served " << back_after << " ms after its restart\n";
}

// ---------------------------------------------------------------------------------------------
// 2. Distribution per strategy.

TEST(Strategy, WeightedRoundRobinThreeToOne) {
  mt::SimProcess a("a"), b("b");
  mt::GatewayProcess gw(
      gateway_config({{a.port(), "weight: 3"}, {b.port(), "weight: 1"}}, {"strategy: weighted_round_robin"}));
  constexpr int kRequests = 400;
  auto s = spread(gw.port(), kRequests, 4);
  EXPECT_EQ(s.errors, 0) << s.first_error;
  EXPECT_NEAR(s.by_server["a"], kRequests * 3 / 4, kRequests * 0.05);
  EXPECT_NEAR(s.by_server["b"], kRequests / 4, kRequests * 0.05);
}

TEST(Strategy, RandomWeightedThreeToOne) {
  mt::SimProcess a("a"), b("b");
  mt::GatewayProcess gw(gateway_config({{a.port(), "weight: 3"}, {b.port(), "weight: 1"}}, {"strategy: random"}));
  constexpr int kRequests = 1000;
  auto s = spread(gw.port(), kRequests, 4);
  EXPECT_EQ(s.errors, 0) << s.first_error;
  EXPECT_NEAR(s.by_server["a"], kRequests * 3 / 4, kRequests * 0.08);
  EXPECT_NEAR(s.by_server["b"], kRequests / 4, kRequests * 0.08);
}

namespace {

// A fast server (2 ms per token) and a slow one (40 ms): a load-aware strategy keeps fewer
// requests on the slow one, so the fast one answers far more of them.
void expect_load_aware(const std::string& strategy) {
  mt::SimProcess fast("fast", {"--tpot-ms", "2"}), slow("slow", {"--tpot-ms", "40"});
  mt::GatewayProcess gw(gateway_config({{fast.port(), ""}, {slow.port(), ""}}, {"strategy: " + strategy}));
  auto s = spread(gw.port(), 320, 16, chat(false, 10));
  EXPECT_EQ(s.errors, 0) << s.first_error;
  EXPECT_EQ(s.by_server["fast"] + s.by_server["slow"], 320);
  EXPECT_GT(s.by_server["fast"], 3 * s.by_server["slow"])
      << strategy << ": fast " << s.by_server["fast"] << ", slow " << s.by_server["slow"];
  EXPECT_GT(s.by_server["slow"], 0) << "the slow server should still get some requests";
}

}  // namespace

TEST(Strategy, LeastRequestFavoursTheFasterServer) { expect_load_aware("least_request"); }

TEST(Strategy, P2cFavoursTheFasterServer) { expect_load_aware("p2c"); }

TEST(Strategy, ConsistentHashKeepsKeysAndMovesOnlyTheRemovedServersKeys) {
  mt::SimProcess s0("s0"), s1("s1"), s2("s2"), s3("s3");
  const std::vector<std::string> lb = {"strategy: consistent_hash", "hashKey: header:X-User"};
  mt::GatewayProcess gw(
      gateway_config({{s0.port(), ""}, {s1.port(), ""}, {s2.port(), ""}, {s3.port(), ""}}, lb));
  mt::HttpClient client("127.0.0.1", gw.port());

  const std::string first = served_by(client, {{"X-User", "alice"}});
  for (int i = 0; i < 20; ++i) ASSERT_EQ(served_by(client, {{"X-User", "alice"}}), first) << "request " << i;

  constexpr int kKeys = 200;
  auto key = [](int i) { return "user-" + std::to_string(i); };
  std::vector<std::string> before(kKeys), after(kKeys);
  std::map<std::string, int> share;
  for (int i = 0; i < kKeys; ++i) ++share[before[i] = served_by(client, {{"X-User", key(i)}})];
  EXPECT_EQ(share.size(), 4u) << "200 keys should reach all four servers";

  // Take s1 out of the file; the gateway reloads it.
  gw.write_config(gateway_config({{s0.port(), ""}, {s2.port(), ""}, {s3.port(), ""}}, lb));
  ASSERT_TRUE(gw.process().wait_for_next_line(std::regex("config applied"), 5s))
      << "the rewritten config was not applied:\n" << gw.process().output();

  // Once the reload is applied, no request reaches the removed server, not even the next one on
  // a connection that was kept alive across the reload (asked first with a key s1 owned).
  int s1_key = -1;
  for (int i = 0; i < kKeys && s1_key < 0; ++i)
    if (before[i] == "s1") s1_key = i;
  ASSERT_GE(s1_key, 0);
  EXPECT_NE(served_by(client, {{"X-User", key(s1_key)}}), "s1")
      << "the first request on a kept-alive connection after the reload still went to the removed server";

  // The remapping, on a fresh connection.
  mt::HttpClient fresh("127.0.0.1", gw.port());
  int moved = 0, moved_wrongly = 0, still_on_s1 = 0;
  for (int i = 0; i < kKeys; ++i) {
    after[i] = served_by(fresh, {{"X-User", key(i)}});
    still_on_s1 += after[i] == "s1";
    if (after[i] == before[i]) continue;
    ++moved;
    if (before[i] != "s1") ++moved_wrongly;
  }
  EXPECT_EQ(still_on_s1, 0) << "keys still reach the removed server";
  EXPECT_EQ(moved_wrongly, 0) << "keys of servers still present moved";
  EXPECT_GE(moved, kKeys * 10 / 100);
  EXPECT_LE(moved, kKeys * 40 / 100);
  EXPECT_EQ(moved, share["s1"]) << "exactly the removed server's keys move";
}

TEST(Strategy, IpHashKeepsOneClientOnOneServer) {
  mt::SimProcess a("a"), b("b"), c("c");
  mt::GatewayProcess gw(gateway_config({{a.port(), ""}, {b.port(), ""}, {c.port(), ""}}, {"strategy: ip_hash"}));
  // Several connections (so several workers), all from 127.0.0.1.
  auto s = spread(gw.port(), 60, 6);
  EXPECT_EQ(s.errors, 0) << s.first_error;
  EXPECT_EQ(s.by_server.size(), 1u) << "one client address went to several servers";
}

TEST(Strategy, BackupServesOnlyWhileThePrimaryIsDown) {
  auto primary = std::make_unique<mt::SimProcess>("primary");
  mt::SimProcess backup("backup");
  const std::uint16_t primary_port = primary->port();
  mt::GatewayProcess gw(gateway_config({{primary_port, ""}, {backup.port(), "backup: true"}},
                                       {"healthCheck: {interval: 200ms, timeout: 150ms, fall: 1, rise: 1}",
                                        "passiveHealth: {consecutiveFailures: 1, baseEjection: 200ms}"}));
  auto up = spread(gw.port(), 40, 4);
  EXPECT_EQ(up.errors, 0) << up.first_error;
  EXPECT_EQ(up.by_server["primary"], 40);
  EXPECT_EQ(sim_stat(backup.port(), "requests"), 0) << "the backup was used while the primary was up";

  primary->process().kill();
  primary->process().wait(2s);
  auto down = spread(gw.port(), 20, 2);
  EXPECT_EQ(down.errors, 0) << down.first_error;
  EXPECT_EQ(down.by_server["backup"], 20) << "the backup did not step in";

  mt::Process again(MODELGATE_BIN, {"sim", "--listen", "127.0.0.1:" + std::to_string(primary_port), "--name",
                                    "primary2"});
  ASSERT_TRUE(again.wait_for_line(std::regex("listening on"), 5s)) << again.output();
  mt::HttpClient client("127.0.0.1", gw.port());
  EXPECT_TRUE(wait_until([&] { return served_by(client) == "primary2"; }, 2s))
      << "traffic did not return to the restarted primary";
  const auto backup_requests = sim_stat(backup.port(), "requests");
  auto back = spread(gw.port(), 20, 2);
  EXPECT_EQ(back.by_server["primary2"], 20);
  EXPECT_EQ(sim_stat(backup.port(), "requests"), backup_requests) << "the backup kept getting traffic";
}

// ---------------------------------------------------------------------------------------------
// 3. A client that leaves cancels the generation on the server.

class ClientDisconnect : public ::testing::Test {
 protected:
  void start(std::vector<std::string> sim_args) {
    sim_ = std::make_unique<mt::SimProcess>("vm02", std::move(sim_args));
    gw_ = std::make_unique<mt::GatewayProcess>(gateway_config({{sim_->port(), ""}}));
  }
  // Waits up to `within` for the sim to count an aborted generation; the time it took, or -1.
  double aborted_within(milliseconds within) {
    const auto t = Clock::now();
    if (!wait_until([&] { return sim_stat(sim_->port(), "aborted") >= 1; }, within)) return -1;
    return ms_since(t);
  }
  std::unique_ptr<mt::SimProcess> sim_;
  std::unique_ptr<mt::GatewayProcess> gw_;
};

TEST_F(ClientDisconnect, BeforeTheHeaderNonStreamingCancelsUpstream) {
  start({"--ttft-ms", "3000"});
  mt::HttpClient client("127.0.0.1", gw_->port(), 200ms);
  auto r = client.post_json("/v1/chat/completions", chat(false, 4));
  EXPECT_EQ(r.status, 0) << "expected the client to give up first";
  client.close();
  const double took = aborted_within(1s);
  EXPECT_GE(took, 0) << "the sim never saw the request aborted (stats: aborted "
                     << sim_stat(sim_->port(), "aborted") << ", inflight " << sim_stat(sim_->port(), "inflight")
                     << ")";
}

TEST_F(ClientDisconnect, WaitingForTheFirstTokenCancelsUpstream) {
  start({"--ttft-ms", "3000"});
  mt::HttpClient client("127.0.0.1", gw_->port());
  auto s = client.stream("POST", "/v1/chat/completions", kJson, chat(true, 4), {.timeout = 200ms});
  EXPECT_FALSE(s.complete);
  EXPECT_TRUE(s.events.empty());
  client.close();
  const double took = aborted_within(1s);
  EXPECT_GE(took, 0) << "1 s after the client left a stream still waiting for its first token, the sim "
                        "has not seen it aborted (aborted "
                     << sim_stat(sim_->port(), "aborted") << ", inflight " << sim_stat(sim_->port(), "inflight")
                     << ")";
}

TEST_F(ClientDisconnect, MidStreamCancelsUpstream) {
  start({"--tpot-ms", "200", "--max-tokens", "50"});
  mt::HttpClient client("127.0.0.1", gw_->port());
  auto s = client.stream("POST", "/v1/chat/completions", kJson, chat(true, 0),
                         {.timeout = 5s, .stop_after_events = 3});
  EXPECT_EQ(s.status, 200) << s.error;
  EXPECT_EQ(s.events.size(), 3u);
  client.close();
  const double took = aborted_within(1s);
  EXPECT_GE(took, 0) << "the sim kept generating for a client that left mid-stream";
  EXPECT_EQ(sim_stat(sim_->port(), "completed"), 0);
}

// ---------------------------------------------------------------------------------------------
// 4. A retryOn status goes to another server.

TEST(Retry, StatusInRetryOnIsRetriedOnTheHealthyServer) {
  mt::SimProcess bad("bad", {"--fail-rate", "1.0"}), good("good");
  mt::GatewayProcess gw(gateway_config({{bad.port(), ""}, {good.port(), ""}},
                                       {"retry: {attempts: 3, retryOn: [500, 502, 503]}"}));
  auto s = spread(gw.port(), 40, 2);
  EXPECT_EQ(s.errors, 0) << s.first_error;
  EXPECT_EQ(s.by_server["good"], 40);
  EXPECT_GE(sim_stat(bad.port(), "requests"), 1) << "the failing server was never tried";
}

// ---------------------------------------------------------------------------------------------
// 5. Timeouts.

TEST(Timeouts, SlowHeaderIsCutOffAfterReadHeader) {
  mt::SimProcess sim("vm02");
  mt::GatewayProcess gw(gateway_config({{sim.port(), ""}}, {}, {"timeouts: {readHeader: 500ms}"}));
  const auto t = Clock::now();
  const std::string got = mt::raw_exchange(gw.port(), "GET / HTTP/1.1\r\nHost: x\r\n", 3s);
  const double took = ms_since(t);
  EXPECT_GE(took, 400) << "closed before readHeader";
  EXPECT_LT(took, 1500) << "the half-sent header was not cut off";
  if (!got.empty()) {
    EXPECT_EQ(got.rfind("HTTP/1.1 408", 0), 0u) << got;
    EXPECT_NE(got.find("request_timeout"), std::string::npos) << got;
  }
}

TEST(Timeouts, StalledStreamEndsWithAnErrorEventAfterStreamIdle) {
  mt::SimProcess sim("vm02", {"--stall-after-chunks", "2"});
  mt::GatewayProcess gw(gateway_config({{sim.port(), ""}}, {"timeouts: {streamIdle: 300ms}"}));
  mt::HttpClient client("127.0.0.1", gw.port());
  const auto t = Clock::now();
  auto s = client.stream("POST", "/v1/chat/completions", kJson, chat(true, 10), {.timeout = 5s});
  const double took = ms_since(t);
  EXPECT_EQ(s.status, 200) << s.error;
  EXPECT_TRUE(s.complete) << "the stream should end cleanly: " << s.error;
  EXPECT_TRUE(ends_with_error_event(s)) << s.body;
  EXPECT_LT(took, 1000) << "streamIdle 300ms was not applied";
  EXPECT_GE(took, 250);
}

TEST(Timeouts, TotalBoundsTheWholeRequest) {
  mt::SimProcess sim("vm02", {"--tpot-ms", "100"});
  mt::GatewayProcess gw(gateway_config({{sim.port(), ""}}, {"timeouts: {total: 500ms}"}));
  mt::HttpClient client("127.0.0.1", gw.port());
  // 20 tokens at 100 ms: about 2 s of work, cut at 500 ms.
  auto t = Clock::now();
  auto r = client.post_json("/v1/chat/completions", chat(false, 20));
  double took = ms_since(t);
  EXPECT_EQ(r.status, 504) << r.body << r.error;
  EXPECT_NE(r.body.find("upstream_timeout"), std::string::npos) << r.body;
  EXPECT_GE(took, 400);
  EXPECT_LT(took, 1000);

  t = Clock::now();
  auto s = client.stream("POST", "/v1/chat/completions", kJson, chat(true, 20), {.timeout = 5s});
  took = ms_since(t);
  EXPECT_EQ(s.status, 200) << s.error;
  EXPECT_GE(s.events.size(), 2u) << "the stream started before the limit";
  EXPECT_TRUE(ends_with_error_event(s)) << s.body;
  EXPECT_LT(took, 1000) << "timeouts.total did not cut the stream";
}

// ---------------------------------------------------------------------------------------------
// 6. maxConnections.

namespace {

struct Burst {
  std::vector<mt::Response> responses;
};

// `n` requests at once, each on its own connection.
Burst burst(std::uint16_t port, int n, const std::string& body) {
  Burst out;
  out.responses.resize(n);
  std::latch go(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      mt::HttpClient client("127.0.0.1", port, 10s);
      go.arrive_and_wait();
      out.responses[i] = client.post_json("/v1/chat/completions", body);
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace

// Six requests at once against maxConnections 2, in several rounds, each through a fresh gateway
// (so that each round opens new connections to the server): the limit must hold every time, not
// just usually. The sim's max_inflight is its peak over all rounds.
TEST(MaxConnections, RequestsBeyondTheLimitQueue) {
  mt::SimProcess sim("vm02", {"--ttft-ms", "300"});
  for (int round = 0; round < 3; ++round) {
    mt::GatewayProcess gw(gateway_config({{sim.port(), "maxConnections: 2"}}));
    const auto t = Clock::now();
    auto b = burst(gw.port(), 6, chat(false, 1));
    const double took = ms_since(t);
    for (const auto& r : b.responses) EXPECT_EQ(r.status, 200) << r.body << r.error;
    EXPECT_GE(took, 850) << "round " << round << ": 6 requests of 300 ms two at a time take three rounds";
  }
  EXPECT_LE(sim_stat(sim.port(), "max_inflight"), 2) << "maxConnections 2 was exceeded";
  EXPECT_EQ(sim_stat(sim.port(), "requests"), 18);
}

TEST(MaxConnections, QueueWaitIsBoundedByConnectTimeout) {
  mt::SimProcess sim("vm02", {"--ttft-ms", "300"});
  for (int round = 0; round < 4; ++round) {
    mt::GatewayProcess gw(gateway_config({{sim.port(), "maxConnections: 2"}}, {"timeouts: {connect: 100ms}"}));
    auto b = burst(gw.port(), 6, chat(false, 1));
    int ok = 0, busy = 0;
    for (const auto& r : b.responses) {
      if (r.status == 200) ++ok;
      if (r.status == 503 && r.body.find("server_busy") != std::string::npos) ++busy;
    }
    EXPECT_EQ(ok + busy, 6) << "round " << round;
    EXPECT_GE(ok, 2) << "round " << round;
    EXPECT_GE(busy, 1) << "round " << round << ": no request was turned away after waiting connect=100ms";
  }
  EXPECT_LE(sim_stat(sim.port(), "max_inflight"), 2) << "maxConnections 2 was exceeded";
}

// ---------------------------------------------------------------------------------------------
// 7. Drain in the config.

TEST(Drain, DrainingServerGetsNoTraffic) {
  mt::SimProcess a("a"), b("b");
  mt::GatewayProcess gw(gateway_config({{a.port(), "drain: true"}, {b.port(), ""}}));
  auto s = spread(gw.port(), 30, 3);
  EXPECT_EQ(s.errors, 0) << s.first_error;
  EXPECT_EQ(s.by_server["b"], 30);
  EXPECT_EQ(sim_stat(a.port(), "requests"), 0);
}

// ---------------------------------------------------------------------------------------------
// 8. Graceful shutdown.

TEST(Shutdown, SigtermLetsTheStreamFinishRefusesNewConnectionsAndExitsZero) {
  mt::SimProcess sim("vm02", {"--tpot-ms", "100"});
  mt::GatewayProcess gw(gateway_config({{sim.port(), ""}}, {}, {}, {"shutdown: {drainTimeout: 5s}"}));
  const std::uint16_t port = gw.port();

  mt::StreamResult s;
  std::thread streamer([&] {
    mt::HttpClient client("127.0.0.1", port);
    s = client.stream("POST", "/v1/chat/completions", kJson, chat(true, 15), {.timeout = 8s});
  });
  // Wait until the generation runs on the sim, then signal.
  EXPECT_TRUE(wait_until([&] { return sim_stat(sim.port(), "inflight") >= 1; }, 2s)) << "the stream never started";
  std::this_thread::sleep_for(200ms);
  const auto signalled = Clock::now();
  gw.process().signal(SIGTERM);

  std::this_thread::sleep_for(200ms);
  const auto t = Clock::now();
  mt::HttpClient late("127.0.0.1", port, 1s);
  auto r = late.get("/ping");
  const double took = ms_since(t);
  EXPECT_EQ(r.status, 0) << "a new connection was served after SIGTERM: " << r.body;
  EXPECT_LT(took, 500) << "the new connection was left hanging rather than refused (" << r.error << ")";

  streamer.join();
  EXPECT_EQ(s.status, 200) << s.error;
  EXPECT_TRUE(s.complete) << "the stream in flight was cut by the shutdown: " << s.error;
  ASSERT_FALSE(s.events.empty());
  EXPECT_EQ(s.events.back().data, "[DONE]");
  EXPECT_GE(s.events.size(), 16u);

  auto code = gw.process().wait(6s);
  const double exit_after = ms_since(signalled);
  ASSERT_TRUE(code.has_value()) << "the gateway did not exit:\n" << gw.process().output();
  EXPECT_EQ(*code, 0) << gw.process().output();
  EXPECT_LT(exit_after, 5000 + 500) << "the gateway took longer than shutdown.drainTimeout";
}
