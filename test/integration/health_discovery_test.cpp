// The control-plane pollers in-process (HealthChecker, ModelDiscovery on their own io_context
// thread, as the gateway runs them) against real `modelgate sim` processes: servers killed and
// restarted on the same port, models loaded and unloaded at runtime, reloads with new settings.
// Intervals are 100-150 ms. Nothing sleeps a fixed time: every wait is for a condition, with a
// bound; where a test asserts that something stays as it is, it first waits until the checks or
// polls that could change it have run (counted as the connections the sim accepted: a check or a
// poll opens one and closes it) or until the thread that could change it is idle.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <optional>
#include <regex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "config/loader.h"
#include "discovery/model_discovery.h"
#include "health/health_checker.h"
#include "runtime/snapshot.h"
#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/sim_stats.h"
#include "support/wait.h"

namespace mt = modelgate::test;
namespace mg = modelgate;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
using List = std::vector<std::string>;
using mt::wait_until;

// The control-plane thread: one io_context kept running until the end of the test.
struct ControlPlane {
  boost::asio::io_context io;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  ~ControlPlane() {
    work.reset();
    io.stop();
    thread.join();
  }
  // Waits until everything posted to the thread so far has run; false if it did not within 2 s.
  bool settle() {
    auto ran = std::make_shared<std::promise<void>>();
    auto done = ran->get_future();
    boost::asio::post(io, [ran] { ran->set_value(); });
    return done.wait_for(2s) == std::future_status::ready;
  }
};

// Counts the connections a sim accepts from others than the counting one (one per health check or
// discovery poll): `wait_for(n)` waits until n more have come since the last call.
class Connections {
 public:
  explicit Connections(std::uint16_t port) : stats_(port), seen_(stats_("connections")) {}
  bool wait_for(std::int64_t n, std::chrono::milliseconds timeout = 3s) {
    const auto target = seen_ + n;
    return wait_until([&] { return (seen_ = stats_("connections")) >= target; }, timeout);
  }

 private:
  mt::SimStats stats_;
  std::int64_t seen_;
};

// A config with one service over `ports`; `lb_extra` is YAML under loadBalancer (indent 8).
std::string config_text(const std::vector<std::uint16_t>& ports, const std::string& lb_extra) {
  return mt::pool_config(ports, lb_extra);
}

std::shared_ptr<const mg::runtime::Snapshot> snapshot(const std::string& yaml, mg::runtime::ServerRegistry& registry) {
  auto loaded = mg::config::load_text(yaml, "test");
  if (!loaded.config) {
    std::string problems;
    for (const auto& d : loaded.diagnostics) problems += d.str() + "\n";
    throw std::runtime_error("config does not load:\n" + problems + yaml);
  }
  auto built = mg::runtime::build_snapshot(*loaded.config, registry);
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    throw std::runtime_error("snapshot: " + (errors->empty() ? std::string() : errors->front()));
  }
  return std::get<std::shared_ptr<const mg::runtime::Snapshot>>(built);
}

const std::shared_ptr<mg::balancing::ServerState>& server(const mg::runtime::Snapshot& snap, std::size_t i) {
  return snap.services.at(0).servers.at(i);
}

List sorted(List v) {
  std::sort(v.begin(), v.end());
  return v;
}

// A sim on a given port, started directly (SimProcess always binds port 0).
std::unique_ptr<mt::Process> sim_on(std::uint16_t port, const std::string& name, const std::string& models) {
  auto p = std::make_unique<mt::Process>(
      MODELGATE_BIN, std::vector<std::string>{"sim", "--listen", "127.0.0.1:" + std::to_string(port), "--name",
                                              name, "--models", models});
  static const std::regex announced(R"(^sim \S+ listening on)");
  if (!p->wait_for_line(announced, 10s)) throw std::runtime_error("sim did not start:\n" + p->output());
  return p;
}

constexpr const char* kHealth = R"y(        healthCheck:
          path: /health
          interval: 100ms
          timeout: 500ms
          rise: 2
          fall: 3
)y";

}  // namespace

TEST(HealthCheck, KilledServerGoesDownAndComesBackOnTheSamePort) {
  ControlPlane cp;
  mt::SimProcess a("a", {"--models", "A"});
  mt::SimProcess b("b", {"--models", "B"});
  const auto port = a.port();
  mg::runtime::ServerRegistry registry;
  auto snap = snapshot(config_text({a.port(), b.port()}, kHealth), registry);
  auto sa = server(*snap, 0), sb = server(*snap, 1);

  Connections checks_a(a.port()), checks_b(b.port());
  mg::health::HealthChecker checker(cp.io);
  checker.update(snap);
  ASSERT_TRUE(wait_until([&] { return checker.probe_count() == 2; }, 2s));
  // A few checks pass.
  ASSERT_TRUE(checks_a.wait_for(3)) << "a is not checked every 100 ms";
  ASSERT_TRUE(checks_b.wait_for(3)) << "b is not checked every 100 ms";
  EXPECT_TRUE(sa->healthy);
  EXPECT_TRUE(sb->healthy);

  a.process().kill();
  a.process().wait(5s);
  const auto killed = Clock::now();
  ASSERT_TRUE(wait_until([&] { return !sa->healthy; }, 3s)) << "a dead server stays healthy";
  const auto down_after = Clock::now() - killed;
  // fall = 3 failures, 100 ms apart: 200-300 ms after the kill; allow for a loaded machine.
  EXPECT_GE(down_after, 150ms);
  EXPECT_LT(down_after, 2s);
  EXPECT_TRUE(sb->healthy) << "the other server is unaffected";
  EXPECT_NE(sa->info().last_error.find("health check: GET /health: connect"), std::string::npos)
      << sa->info().last_error;

  auto again = sim_on(port, "a-again", "A");
  const auto restarted = Clock::now();
  ASSERT_TRUE(wait_until([&] { return sa->healthy.load(); }, 3s)) << "a restarted server stays down";
  EXPECT_LT(Clock::now() - restarted, 2s);
  EXPECT_TRUE(sb->healthy);

  // Once healthy it stays so, over three more checks.
  Connections checks_again(port);
  ASSERT_TRUE(checks_again.wait_for(3)) << "the restarted server is not checked every 100 ms";
  EXPECT_TRUE(sa->healthy);
  checker.stop();
  EXPECT_TRUE(wait_until([&] { return checker.probe_count() == 0; }, 2s));
}

TEST(HealthCheck, ReloadKeepsProbesAndAppliesNewSettings) {
  ControlPlane cp;
  mt::SimProcess a("a");
  mg::runtime::ServerRegistry registry;
  auto config = [&](const std::string& hc) { return snapshot(config_text({a.port()}, hc), registry); };

  // The sim answers 404 on an unknown path: with the default expectStatus the server goes down.
  auto s1 = config("        healthCheck: {path: /nope, interval: 100ms, timeout: 500ms, rise: 2, fall: 2}\n");
  auto sa = server(*s1, 0);
  const long holders = sa.use_count();  // this test and s1, without a probe
  mg::health::HealthChecker checker(cp.io);
  checker.update(s1);
  ASSERT_TRUE(wait_until([&] { return !sa->healthy; }, 3s));
  EXPECT_NE(sa->info().last_error.find("answered 404, expected 200"), std::string::npos)
      << sa->info().last_error;

  // Same server, new settings: the probe (and the ServerState) is kept, 404 now passes.
  auto s2 = config(
      "        healthCheck: {path: /nope, expectStatus: 404, interval: 100ms, timeout: 500ms, rise: 2, fall: 2}\n");
  ASSERT_EQ(server(*s2, 0), sa) << "the registry keeps the state across reloads";
  checker.update(s2);
  ASSERT_TRUE(wait_until([&] { return sa->healthy.load(); }, 3s));
  EXPECT_EQ(checker.probe_count(), 1u);

  // healthCheck removed: no probe, the server is healthy whatever it answers.
  auto s3 = config("");
  sa->healthy = false;  // as if the last check had failed
  checker.update(s3);
  ASSERT_TRUE(wait_until([&] { return checker.probe_count() == 0 && sa->healthy; }, 2s));
  // It stays healthy: the probe has ended (it let go of the state; s2 and s3 hold it too), so
  // nothing checks it any more.
  EXPECT_TRUE(wait_until([&] { return sa.use_count() == holders + 2; }, 2s)) << "the old probe still runs";
  EXPECT_TRUE(cp.settle());
  EXPECT_TRUE(sa->healthy);

  // expectStatus 0 takes any 2xx/3xx, so a 404 fails.
  auto s4 = config(
      "        healthCheck: {path: /nope, expectStatus: 0, interval: 100ms, timeout: 500ms, rise: 1, fall: 1}\n");
  checker.update(s4);
  ASSERT_TRUE(wait_until([&] { return !sa->healthy; }, 3s));
  EXPECT_NE(sa->info().last_error.find("expected 2xx or 3xx"), std::string::npos) << sa->info().last_error;

  // The server leaves the config: its probe stops and lets go of the state.
  mt::SimProcess b("b");
  auto s5 = snapshot(config_text({b.port()}, kHealth), registry);
  checker.update(s5);
  s1.reset(), s2.reset(), s3.reset(), s4.reset();
  EXPECT_TRUE(wait_until([&] { return sa.use_count() == 1; }, 2s)) << "the old probe still runs";
  EXPECT_EQ(checker.probe_count(), 1u);
  EXPECT_TRUE(server(*s5, 0)->healthy);
}

TEST(HealthCheck, SlowServerFailsOnTimeout) {
  ControlPlane cp;
  mt::SimProcess a("a", {"--hang-after-ms", "1"});  // reads requests, never answers
  mg::runtime::ServerRegistry registry;
  auto snap = snapshot(
      config_text({a.port()}, "        healthCheck: {interval: 100ms, timeout: 150ms, rise: 1, fall: 1}\n"),
      registry);
  auto sa = server(*snap, 0);
  mg::health::HealthChecker checker(cp.io);
  checker.update(snap);
  ASSERT_TRUE(wait_until([&] { return !sa->healthy; }, 3s));
  EXPECT_NE(sa->info().last_error.find("timed out after 150 ms"), std::string::npos) << sa->info().last_error;
}

TEST(Discovery, FollowsModelsLoadedAndUnloadedAtRuntime) {
  ControlPlane cp;
  mt::SimProcess a("a", {"--models", "A,B"});
  mg::runtime::ServerRegistry registry;
  auto snap = snapshot(config_text({a.port()}, "        discoverModels: {interval: 150ms}\n"), registry);
  auto sa = server(*snap, 0);
  std::atomic<int> changes{0};
  mg::discovery::ModelDiscovery discovery(cp.io, [&] { ++changes; });

  EXPECT_FALSE(sa->info().models_known);
  discovery.update(snap);
  ASSERT_TRUE(discovery.wait_initial_round(5s));
  EXPECT_TRUE(discovery.initial_round_done());
  EXPECT_TRUE(sa->info().models_known);
  EXPECT_EQ(sorted(sa->info().models), (List{"A", "B"}));
  EXPECT_EQ(changes, 1);

  mt::HttpClient admin("127.0.0.1", a.port());
  ASSERT_EQ(admin.post_json("/admin/models", R"({"id":"C"})").status, 201);
  auto loaded = Clock::now();
  ASSERT_TRUE(wait_until([&] { return sorted(sa->info().models) == List{"A", "B", "C"}; }, 3s));
  EXPECT_LT(Clock::now() - loaded, 1s) << "seen after one 150 ms interval, allowing for a loaded machine";
  EXPECT_EQ(changes, 2);

  ASSERT_EQ(admin.request("DELETE", "/admin/models/A").status, 204);
  ASSERT_TRUE(wait_until([&] { return sorted(sa->info().models) == List{"B", "C"}; }, 3s));
  EXPECT_EQ(changes, 3);

  // No change, no callback, over three more polls (a poller handles one poll's answer before it
  // makes the next, so at least two of them have been compared with the list by then).
  Connections polls(a.port());
  ASSERT_TRUE(polls.wait_for(3)) << "not polled every 150 ms";
  EXPECT_EQ(changes, 3);
}

TEST(Discovery, FailingListKeepsTheLastKnownOne) {
  ControlPlane cp;
  mt::SimProcess a("a", {"--models", "A"});
  mg::runtime::ServerRegistry registry;
  auto config = [&](const std::string& path) {
    return snapshot(config_text({a.port()}, "        discoverModels: {interval: 100ms, path: " + path + "}\n"),
                    registry);
  };
  auto s1 = config("/v1/models");
  auto sa = server(*s1, 0);
  std::atomic<int> changes{0};
  mg::discovery::ModelDiscovery discovery(cp.io, [&] { ++changes; });
  discovery.update(s1);
  ASSERT_TRUE(discovery.wait_initial_round(5s));
  ASSERT_EQ(sa->info().models, List{"A"});

  // A path answering something that is not a model list ({"status":"ok"}).
  auto s2 = config("/health");
  ASSERT_EQ(server(*s2, 0), sa);
  discovery.update(s2);
  ASSERT_TRUE(wait_until([&] { return sa->info().last_error.find("not a model list") != std::string::npos; }, 3s))
      << sa->info().last_error;
  EXPECT_TRUE(sa->info().models_known);
  EXPECT_EQ(sa->info().models, List{"A"});

  // A 404.
  discovery.update(config("/nope"));
  ASSERT_TRUE(wait_until([&] { return sa->info().last_error.find("answered 404") != std::string::npos; }, 3s))
      << sa->info().last_error;
  EXPECT_EQ(sa->info().models, List{"A"});

  // The server dies.
  discovery.update(config("/v1/models"));
  a.process().kill();
  a.process().wait(5s);
  ASSERT_TRUE(wait_until([&] { return sa->info().last_error.find("connect") != std::string::npos; }, 3s))
      << sa->info().last_error;
  EXPECT_TRUE(sa->info().models_known);
  EXPECT_EQ(sa->info().models, List{"A"});
  EXPECT_EQ(changes, 1) << "failures are not changes";
}

TEST(Discovery, InitialRoundEndsWithDeadAndHungServers) {
  ControlPlane cp;
  mt::SimProcess live("live", {"--models", "A"});
  mt::SimProcess hung("hung", {"--models", "H", "--hang-after-ms", "1"});
  // Past its first millisecond it answers nothing; wait until it has stopped answering.
  auto answers = [&] { return mt::HttpClient("127.0.0.1", hung.port(), 50ms).get("/health").status != 0; };
  ASSERT_TRUE(wait_until([&] { return !answers(); }, 3s));
  const auto dead_port = mt::free_port();  // nothing listens there
  mg::runtime::ServerRegistry registry;
  auto snap = snapshot(
      config_text({live.port(), hung.port(), dead_port}, "        discoverModels: {interval: 200ms}\n"), registry);
  std::atomic<int> changes{0};
  mg::discovery::ModelDiscovery discovery(cp.io, [&] { ++changes; });
  discovery.update(snap);
  EXPECT_FALSE(discovery.initial_round_done());
  const auto started = Clock::now();
  // The hung server's poll times out after max(interval, 1 s).
  ASSERT_TRUE(discovery.wait_initial_round(5s));
  EXPECT_GE(Clock::now() - started, 900ms);
  EXPECT_EQ(server(*snap, 0)->info().models, List{"A"});
  EXPECT_FALSE(server(*snap, 1)->info().models_known);
  EXPECT_FALSE(server(*snap, 2)->info().models_known);
  EXPECT_NE(server(*snap, 1)->info().last_error.find("timed out"), std::string::npos);
  EXPECT_NE(server(*snap, 2)->info().last_error.find("connect"), std::string::npos);

  // A reload adding a server makes the round pending again until its first poll.
  mt::SimProcess more("more", {"--models", "M"});
  auto snap2 = snapshot(config_text({live.port(), more.port()}, "        discoverModels: {interval: 200ms}\n"),
                        registry);
  discovery.update(snap2);
  ASSERT_TRUE(discovery.wait_initial_round(5s));
  EXPECT_EQ(server(*snap2, 1)->info().models, List{"M"});
}

TEST(Discovery, TurningItOffForgetsTheLists) {
  ControlPlane cp;
  mt::SimProcess a("a", {"--models", "A"});
  mg::runtime::ServerRegistry registry;
  auto s1 = snapshot(config_text({a.port()}, "        discoverModels: {interval: 100ms}\n"), registry);
  auto sa = server(*s1, 0);
  std::atomic<int> changes{0};
  mg::discovery::ModelDiscovery discovery(cp.io, [&] { ++changes; });
  discovery.update(s1);
  ASSERT_TRUE(discovery.wait_initial_round(5s));
  ASSERT_TRUE(sa->info().models_known);

  auto s2 = snapshot(config_text({a.port()}, ""), registry);
  ASSERT_EQ(server(*s2, 0), sa);
  discovery.update(s2);
  ASSERT_TRUE(wait_until([&] { return !sa->info().models_known; }, 2s));
  EXPECT_TRUE(sa->info().models.empty());
  EXPECT_EQ(changes, 2);
  EXPECT_TRUE(discovery.initial_round_done());

  // After stop() nothing is polled any more.
  discovery.update(s1);
  ASSERT_TRUE(wait_until([&] { return sa->info().models_known; }, 3s));
  discovery.stop();
  discovery.update(s2);  // ignored
  // Once the control-plane thread has run what was posted (the stop), no poller is left to
  // change the list, and s2 (which would forget it) was not applied.
  ASSERT_TRUE(cp.settle());
  EXPECT_TRUE(sa->info().models_known);
}
