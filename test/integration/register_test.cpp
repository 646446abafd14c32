// `modelgate register` (the real binary) beside a `modelgate sim`, against a real etcd: the key it
// writes in Traefik's layout and its lease, the server withdrawn when it stops answering and back
// when it answers again, the key gone when the sidecar dies (lease lapse) or is stopped (revoke),
// and the registration back after etcd went away, even with its data lost. What etcd holds is read
// with etcdctl.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>
#include <regex>

#include "support/etcd_process.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* kServers = "traefik/http/services/chat/loadbalancer/servers/";

// The sidecar for `url`: checks every 200 ms, a lease of `ttl`; `endpoints` for --etcd ("": etcd's).
std::unique_ptr<mt::Process> start_register(const mt::EtcdProcess& etcd, const std::string& url,
                                            const std::string& ttl = "2s", const std::string& endpoints = "") {
  return std::make_unique<mt::Process>(
      MODELGATE_BIN, std::vector<std::string>{"register", "--etcd", endpoints.empty() ? etcd.endpoint() : endpoints,
                                              "--root-key", "traefik",
                                              "--service", "chat", "--url", url, "--ttl", ttl, "--interval",
                                              "200ms", "--timeout", "500ms"});
}

std::string url_of(const mt::SimProcess& sim) { return "http://" + sim.address(); }

// The servers registered under service "chat".
std::vector<mt::EtcdKey> servers(const mt::EtcdProcess& etcd) { return etcd.get_prefix(kServers); }

// A lease id as etcdctl writes it (hex).
std::string fmt_hex(std::int64_t id) {
  char text[32];
  std::snprintf(text, sizeof text, "%llx", static_cast<unsigned long long>(id));
  return text;
}

bool registered(const mt::EtcdProcess& etcd, const std::string& url) {
  auto keys = servers(etcd);
  return keys.size() == 1 && keys[0].value == url;
}

TEST(Register, WritesTheServerInTraefiksLayoutUnderALease) {
  mt::EtcdProcess etcd;
  mt::SimProcess sim("a");
  auto reg = start_register(etcd, url_of(sim));
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url_of(sim)); }, 10s)) << reg->output();
  const auto key = servers(etcd).at(0);
  EXPECT_TRUE(std::regex_match(key.key, std::regex(std::string(kServers) + R"(\d+/url)"))) << key.key;
  EXPECT_NE(key.lease, 0) << "written without a lease";
  const auto lease = etcd.etcdctl({"lease", "timetolive", fmt_hex(key.lease)});
  EXPECT_NE(lease.find("granted with TTL(2s)"), std::string::npos) << lease;

  // The lease outlives its TTL while the sidecar runs.
  const auto until = Clock::now() + 3s;
  while (Clock::now() < until) {
    ASSERT_TRUE(registered(etcd, url_of(sim))) << reg->output();
    std::this_thread::sleep_for(250ms);
  }

  // A restarted sidecar for the same URL replaces its entry: the same key, not a second one.
  reg->signal(SIGTERM);
  ASSERT_EQ(reg->wait(5s), 0) << reg->output();
  reg = start_register(etcd, url_of(sim));
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url_of(sim)); }, 10s)) << reg->output();
  EXPECT_EQ(servers(etcd).at(0).key, key.key);
}

TEST(Register, WithdrawsAServerThatStopsAnsweringAndWritesItBack) {
  mt::EtcdProcess etcd;
  auto sim = std::make_unique<mt::SimProcess>("a");
  const std::string url = url_of(*sim);
  const std::string address = sim->address();
  auto reg = start_register(etcd, url);
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url); }, 10s)) << reg->output();

  sim->process().kill();
  sim->process().wait(5s);
  const auto killed = Clock::now();
  ASSERT_TRUE(mt::wait_until([&] { return servers(etcd).empty(); }, 10s)) << reg->output();
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed);
  // One interval (200 ms) and the delete; etcdctl's own start-up is in the measure too.
  EXPECT_LT(took, 1500ms) << "withdrawn only after the lease would have lapsed";
  std::cout << "withdrawn " << took.count() << " ms after the server died\n";

  sim = std::make_unique<mt::SimProcess>("a", std::vector<std::string>{"--listen", address});
  const auto back = Clock::now();
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url); }, 5s)) << reg->output();
  std::cout << "registered again "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - back).count()
            << " ms after the server answered\n";
  EXPECT_TRUE(reg->wait_for_line(std::regex("withdrew .*failed its health check"), 0ms)) << reg->output();
}

TEST(Register, ServerLeavesWhenTheSidecarIsKilledAndItsLeaseLapses) {
  mt::EtcdProcess etcd;
  mt::SimProcess sim("a");
  auto reg = start_register(etcd, url_of(sim));
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url_of(sim)); }, 10s)) << reg->output();
  reg->kill();
  reg->wait(5s);
  const auto killed = Clock::now();
  EXPECT_TRUE(registered(etcd, url_of(sim))) << "gone before its lease lapsed";
  ASSERT_TRUE(mt::wait_until([&] { return servers(etcd).empty(); }, 10s));
  const auto took = Clock::now() - killed;
  EXPECT_GT(took, 500ms);
  EXPECT_LT(took, 5s) << "the lease (TTL 2 s) outlived its TTL";
  std::cout << "gone " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms after the sidecar was killed (TTL 2 s)\n";
}

TEST(Register, SigtermRevokesTheLeaseAtOnce) {
  mt::EtcdProcess etcd;
  mt::SimProcess sim("a");
  for (int sig : {SIGTERM, SIGINT}) {
    auto reg = start_register(etcd, url_of(sim), "30s");
    ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url_of(sim)); }, 10s)) << reg->output();
    reg->signal(sig);
    ASSERT_EQ(reg->wait(5s), 0) << reg->output();
    EXPECT_TRUE(servers(etcd).empty()) << "still registered after the sidecar left; " << reg->output();
  }
}

TEST(Register, RegistersAgainAfterEtcdCameBackWithoutItsData) {
  mt::EtcdProcess etcd;
  mt::SimProcess sim("a");
  auto reg = start_register(etcd, url_of(sim));
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url_of(sim)); }, 10s)) << reg->output();

  etcd.wipe();  // the cluster is lost: its keys and leases with it
  ASSERT_TRUE(reg->wait_for_line(std::regex("etcd unreachable"), 10s)) << reg->output();
  etcd.start();
  const auto started = Clock::now();
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url_of(sim)); }, 15s)) << reg->output();
  std::cout << "registered again "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
            << " ms after the empty etcd served\n";
  EXPECT_NE(servers(etcd).at(0).lease, 0);
  EXPECT_TRUE(reg->wait_for_line(std::regex("etcd reachable again"), 5s)) << reg->output();
  // Said once per change, not at every retry.
  const std::string out = reg->output();
  std::size_t said = 0;
  for (auto at = out.find("etcd unreachable"); at != std::string::npos; at = out.find("etcd unreachable", at + 1)) ++said;
  EXPECT_EQ(said, 1u) << out;
}

TEST(Register, CatchesUpWithAServerThatDiedWhileEtcdWasDown) {
  mt::EtcdProcess etcd;
  auto sim = std::make_unique<mt::SimProcess>("a");
  const std::string url = url_of(*sim);
  auto reg = start_register(etcd, url, "30s");
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url); }, 10s)) << reg->output();
  etcd.stop();
  sim.reset();
  ASSERT_TRUE(reg->wait_for_line(std::regex("does not answer GET /health"), 5s)) << reg->output();
  etcd.start();  // with its data: the key is still there, under a lease still alive
  ASSERT_TRUE(mt::wait_until([&] { return servers(etcd).empty(); }, 10s)) << reg->output();
}

TEST(Register, WaitsForAnEtcdThatIsNotUpYetAndTriesEachEndpoint) {
  mt::EtcdProcess etcd;
  mt::SimProcess sim("a");
  etcd.stop();
  const std::string endpoints = "127.0.0.1:" + std::to_string(mt::free_port()) + "," + etcd.endpoint();
  auto reg = start_register(etcd, url_of(sim), "2s", endpoints);
  ASSERT_TRUE(reg->wait_for_line(std::regex("etcd unreachable"), 10s)) << reg->output();
  etcd.start();
  ASSERT_TRUE(mt::wait_until([&] { return registered(etcd, url_of(sim)); }, 10s)) << reg->output();
  EXPECT_TRUE(reg->wait_for_line(std::regex("etcd reachable again at " + etcd.endpoint()), 5s)) << reg->output();
}

TEST(Register, BadFlagsSayWhatToWrite) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"--etcd", "127.0.0.1:x", "--service", "chat", "--url", "http://127.0.0.1:1"}, "--etcd \"127.0.0.1:x\""},
      {{"--etcd", "127.0.0.1:2379", "--service", "chat", "--url", "127.0.0.1:8000"}, "--url \"127.0.0.1:8000\""},
      {{"--etcd", "127.0.0.1:2379", "--service", "a/b", "--url", "http://127.0.0.1:1"}, "--service \"a/b\""},
      {{"--etcd", "127.0.0.1:2379", "--service", "chat", "--url", "http://127.0.0.1:1", "--ttl", "1s"}, "--ttl 1s"},
      {{"--etcd", "127.0.0.1:2379", "--service", "chat", "--url", "http://127.0.0.1:1", "--interval", "soon"},
       "--interval \"soon\""},
      {{"--etcd", "127.0.0.1:2379", "--service", "chat", "--url", "http://127.0.0.1:1", "--interval", "20s"},
       "--interval 20s is not shorter than --ttl"},
      {{"--etcd", "127.0.0.1:2379", "--service", "chat", "--url", "http://127.0.0.1:1", "--health", "health"},
       "--health \"health\" is not a path"},
  };
  for (const auto& [flags, said] : cases) {
    std::vector<std::string> args = {"register"};
    args.insert(args.end(), flags.begin(), flags.end());
    mt::Process reg(MODELGATE_BIN, args);
    EXPECT_EQ(reg.wait(5s), 2) << reg.output();
    EXPECT_NE(reg.output().find(said), std::string::npos) << reg.output();
  }
  mt::Process help(MODELGATE_BIN, {"register", "--help"});
  EXPECT_EQ(help.wait(5s), 0);
  for (const char* flag : {"--etcd", "--root-key", "--service", "--url", "--health", "--ttl", "--interval"}) {
    EXPECT_NE(help.output().find(flag), std::string::npos) << flag << "\n" << help.output();
  }
}

}  // namespace
