// GET /ready on the admin API against the real gateway and sims, one test per state of
// src/admin/readiness.h: serving (200), no usable server (503, the gateway still up) and draining
// after SIGTERM (503 at once, while the request in flight still finishes).
#include <gtest/gtest.h>

#include <csignal>
#include <thread>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/sim_process.h"
#include "support/sim_stats.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

std::string ready_config(std::uint16_t sim_port, const std::string& extra = "") {
  return mt::pool_config({sim_port}, "        healthCheck: {interval: 100ms, timeout: 100ms, rise: 1, fall: 1}\n") +
         "admin: {address: \"127.0.0.1:0\"}\n" + extra;
}

mt::Response ready(std::uint16_t admin) {
  mt::HttpClient client("127.0.0.1", admin, 2s);
  return client.get("/ready");
}

}  // namespace

TEST(Ready, ServingGatewayAnswers200) {
  mt::SimProcess sim("r1");
  mt::GatewayProcess gw(ready_config(sim.port()));
  const auto admin = mt::admin_port(gw.process());
  auto r = ready(admin);
  ASSERT_EQ(r.status, 200) << r.body << r.error;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  mt::Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  EXPECT_TRUE(bool(j.root["ready"])) << r.body;
  EXPECT_EQ(mt::num(j.root, "usable_servers"), 1) << r.body;
  EXPECT_EQ(mt::num(j.root, "entry_points"), 1) << r.body;

  mt::HttpClient client("127.0.0.1", admin, 2s);
  EXPECT_EQ(client.request("POST", "/ready").status, 405);
}

TEST(Ready, NoUsableServerIs503WhileTheGatewayStaysUp) {
  auto sim = std::make_unique<mt::SimProcess>("r2");
  mt::GatewayProcess gw(ready_config(sim->port()));
  const auto admin = mt::admin_port(gw.process());
  ASSERT_EQ(ready(admin).status, 200);

  sim.reset();  // its only server dies
  mt::Response r;
  EXPECT_TRUE(mt::wait_until([&] { return (r = ready(admin)).status == 503; }, 5s))
      << "still " << r.status << ": " << r.body;
  mt::Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  EXPECT_FALSE(bool(j.root["ready"]));
  EXPECT_NE(mt::str(j.root, "reason").find("no usable server"), std::string::npos) << r.body;
  EXPECT_EQ(mt::num(j.root, "usable_servers"), 0);
  EXPECT_TRUE(gw.process().running());
}

TEST(Ready, SigtermTurnsItTo503AtOnceWhileTheRequestInFlightFinishes) {
  mt::SimProcess sim("r3", {"--tpot-ms", "100"});
  mt::GatewayProcess gw(ready_config(sim.port(), "shutdown: {drainTimeout: 5s}\n"));
  const auto admin = mt::admin_port(gw.process());
  ASSERT_EQ(ready(admin).status, 200);

  mt::Response slow;
  std::thread client([&] {
    mt::HttpClient c("127.0.0.1", gw.port(), 8s);
    slow = c.post_json("/v1/chat/completions", mt::chat_json("Qwen2.5-0.5B-Instruct", 15));  // about 1.5 s
  });
  EXPECT_TRUE(mt::wait_until([&] { return mt::sim_stat(sim.port(), "inflight") >= 1; }, 3s));
  gw.process().signal(SIGTERM);
  ASSERT_TRUE(gw.process().wait_for_line(std::regex("draining for up to"), 2s)) << gw.process().output();

  mt::Response r;  // 503 from the start of the drain, while the request is still running
  EXPECT_TRUE(mt::wait_until([&] { return (r = ready(admin)).status == 503; }, 300ms, 5ms))
      << r.status << " " << r.body << r.error;
  EXPECT_GE(mt::sim_stat(sim.port(), "inflight"), 1) << "the request ended before the check was asked";
  mt::Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  EXPECT_TRUE(bool(j.root["draining"])) << r.body;
  EXPECT_NE(mt::str(j.root, "reason").find("draining"), std::string::npos) << r.body;

  client.join();
  EXPECT_EQ(slow.status, 200) << slow.error;
  EXPECT_EQ(gw.process().wait(8s), 0) << gw.process().output();
}

TEST(Ready, AcceptGraceKeepsAcceptingWhileReadyIs503) {
  mt::SimProcess sim("r4");
  mt::GatewayProcess gw(ready_config(sim.port(), "shutdown: {acceptGrace: 1500ms, drainTimeout: 1s}\n"));
  const auto admin = mt::admin_port(gw.process());
  ASSERT_EQ(ready(admin).status, 200);

  const auto signalled = std::chrono::steady_clock::now();
  gw.process().signal(SIGTERM);
  mt::Response r;
  EXPECT_TRUE(mt::wait_until([&] { return (r = ready(admin)).status == 503; }, 300ms, 5ms)) << r.status << r.body;
  // Not ready, yet a new connection is still served: the address can move first.
  mt::HttpClient late("127.0.0.1", gw.port(), 2s);
  auto served = late.post_json("/v1/chat/completions", mt::chat_json("Qwen2.5-0.5B-Instruct"));
  EXPECT_EQ(served.status, 200) << served.error;
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, 1500ms) << "the check above came too late to tell";

  EXPECT_EQ(gw.process().wait(6s), 0) << gw.process().output();
  EXPECT_GE(std::chrono::steady_clock::now() - signalled, 1500ms) << "the gateway left before its accept grace";
}

// deploy/keepalived/notify.sh: leaving the pair (STOP) drains the gateway; BACKUP leaves it
// running as the standby.
TEST(Ready, KeepalivedNotifyDrainsTheGatewayOnlyOnStop) {
  mt::SimProcess sim("r5");
  mt::GatewayProcess gw(ready_config(sim.port(), "shutdown: {drainTimeout: 1s}\n"));
  const std::string script = std::string(MODELGATE_SOURCE_DIR) + "/deploy/keepalived/notify.sh";
  const std::string stop = "MODELGATE_STOP=kill -TERM " + std::to_string(gw.process().pid());
  mt::Process backup(script, {"INSTANCE", "modelgate", "BACKUP", "100"}, {stop});
  EXPECT_EQ(backup.wait(5s), 0) << backup.output();
  EXPECT_TRUE(gw.process().running()) << "BACKUP must leave the standby gateway running";
  mt::Process leave(script, {"INSTANCE", "modelgate", "STOP", "100"}, {stop});
  EXPECT_EQ(leave.wait(5s), 0) << leave.output();
  EXPECT_EQ(gw.process().wait(5s), 0) << gw.process().output();
  EXPECT_NE(gw.process().output().find("draining"), std::string::npos) << gw.process().output();
}
