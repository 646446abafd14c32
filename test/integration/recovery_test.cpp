// A model server that dies and comes back: once an active health check passes again, it gets
// traffic within one check interval, even though passive health ejected it (for 30 s by default)
// while it was dead. `passiveHealth.endOnActiveCheck: false` keeps the ejection running.
// Two real sims, round robin, 16 clients; one sim is SIGKILLed and restarted on its port.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kInterval = 300ms;

std::string config(std::uint16_t a, std::uint16_t b, const std::string& passive) {
  return R"y(admin: {enabled: false}
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    all: {rule: "PathPrefix(`/`)", service: pool}
  services:
    pool:
      loadBalancer:
        strategy: round_robin
        healthCheck: {interval: 300ms, timeout: 200ms, rise: 1, fall: 1}
)y" + passive +
         R"y(        servers:
          - {url: "http://127.0.0.1:)y" +
         std::to_string(a) + R"y("}
          - {url: "http://127.0.0.1:)y" +
         std::to_string(b) + "\"}\n";
}

// Runs 16 clients against the gateway, kills b after 1 s, restarts it 3 s later as "b2", and
// returns how long after the restart b2 answered its first request (or -1 ms if it never did
// within `watch` after the restart).
std::chrono::milliseconds back_after_restart(const std::string& passive, std::chrono::milliseconds watch) {
  mt::SimProcess a("a");
  auto b = std::make_unique<mt::SimProcess>("b");
  const std::uint16_t b_port = b->port();
  mt::GatewayProcess gw(config(a.port(), b_port, passive));
  const std::string body =
      R"({"model":"Qwen2.5-0.5B-Instruct","max_tokens":2,"messages":[{"role":"user","content":"hi"}]})";

  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> b2_first_ns{-1};
  const auto t0 = Clock::now();
  std::vector<std::thread> clients;
  for (int c = 0; c < 16; ++c) {
    clients.emplace_back([&] {
      mt::HttpClient client("127.0.0.1", gw.port(), 5s);
      while (!stop) {
        auto r = client.post_json("/v1/chat/completions", body);
        if (r.status == 200 && r.header("X-Served-By") == "b2") {
          std::int64_t none = -1;
          b2_first_ns.compare_exchange_strong(none, (Clock::now() - t0).count());
        }
      }
    });
  }
  std::this_thread::sleep_until(t0 + 1s);
  b->process().kill();
  b->process().wait(2s);
  std::this_thread::sleep_until(t0 + 4s);
  mt::Process b2(MODELGATE_BIN, {"sim", "--listen", "127.0.0.1:" + std::to_string(b_port), "--name", "b2"});
  const bool up = b2.wait_for_line(std::regex("listening on"), 5s).has_value();
  const auto restarted = Clock::now();
  std::this_thread::sleep_until(restarted + watch);
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_TRUE(up) << "the restarted sim did not come up on port " << b_port << ":\n" << b2.output();
  const auto first = b2_first_ns.load();
  if (first < 0) return std::chrono::milliseconds(-1);
  return std::chrono::duration_cast<std::chrono::milliseconds>(t0 + Clock::duration(first) - restarted);
}

}  // namespace

TEST(Recovery, PassedActiveCheckEndsThePassiveEjection) {
  // passiveHealth at its defaults: 5 failures in a row eject for 30 s, which the kill causes.
  const auto back = back_after_restart("", 2s);
  std::cout << "[ recovery ] restarted server first served " << back.count() << " ms after its restart\n";
  ASSERT_GE(back.count(), 0) << "the restarted server got no traffic within 2 s";
  // The next check passes within one interval of the restart; traffic follows at once (plus the
  // answering request's own time on a loaded machine).
  EXPECT_LT(back, kInterval + 200ms);
}

TEST(Recovery, EndOnActiveCheckFalseKeepsTheEjection) {
  const auto back = back_after_restart("        passiveHealth: {endOnActiveCheck: false}\n", 1500ms);
  EXPECT_LT(back.count(), 0) << "the ejection (30 s) ended " << back.count() << " ms after the restart";
}
