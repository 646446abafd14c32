// The HA pair of deploy/keepalived/ built for real: network namespaces for two gateway nodes and
// a client, joined by veth pairs on a bridge (10.213.0.0/24, the virtual IP 10.213.0.10). Each
// node runs a sim (its model server, on its own loopback), a gateway on 0.0.0.0:8080 and
// keepalived with the deployed keepalived.conf and scripts (addresses and paths filled in).
// Client threads in the client namespace send chat completions to the virtual IP on a fresh
// connection each; the sims' X-Served-By tells which node answered.
//
// Asserted: SIGKILL of the active gateway moves the address to the other node, only requests in
// flight on the dead gateway (or sent to it before the address moved) fail, and new requests
// succeed within a few seconds; SIGTERM hands the address over with at most the requests in flight
// through it at the move failing (shutdown.acceptGrace); a gateway that is up but not ready (its only server dead) gives
// the address up too. Needs root for the namespaces (skips otherwise, saying why).
#include <gtest/gtest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/netns.h"
#include "support/process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kVip = "10.213.0.10";
constexpr const char* kModel = "Qwen2.5-0.5B-Instruct";

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  ASSERT_NE(s.find(from), std::string::npos) << "deploy/keepalived/keepalived.conf no longer has " << from;
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

// The deployed keepalived.conf for one node of the lab.
std::string keepalived_conf(const std::string& self, const std::string& peer, int priority) {
  auto conf = read_file(std::string(MODELGATE_SOURCE_DIR) + "/deploy/keepalived/keepalived.conf");
  replace_all(conf, "10.0.0.11", "@SELF@");
  replace_all(conf, "10.0.0.12", "@PEER@");
  replace_all(conf, "@SELF@", self);
  replace_all(conf, "@PEER@", peer);
  replace_all(conf, "10.0.0.10/24", std::string(kVip) + "/24");
  replace_all(conf, "priority 150", "priority " + std::to_string(priority));
  replace_all(conf, "/etc/keepalived/", std::string(MODELGATE_SOURCE_DIR) + "/deploy/keepalived/");
  // The test runs the scripts from the source tree as root: no dedicated user to check against.
  replace_all(conf, "script_user keepalived_script", "script_user root");
  replace_all(conf, "  enable_script_security\n", "");
  return conf;
}

// Each node's gateway: every address on port 8080, its sim on its own loopback.
std::string gateway_config() {
  auto yaml = mt::pool_config({8000}, "        healthCheck: {interval: 200ms, timeout: 200ms, rise: 1, fall: 1}\n") +
              "admin: {address: \"127.0.0.1:9090\"}\nshutdown: {acceptGrace: 3s, drainTimeout: 5s}\n";
  yaml.replace(yaml.find("127.0.0.1:0"), 11, "0.0.0.0:8080");
  return yaml;
}

struct Node {
  std::string name, ns, address;
  std::unique_ptr<mt::Process> sim, gateway, keepalived;
};

struct Outcome {
  Clock::time_point start, end;
  int status = 0;
  std::string served_by, error;
};

double ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

class HaPair : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = mt::NetnsLab::unavailable()) GTEST_SKIP() << "cannot build the HA pair: " << *why;
    if (!std::filesystem::exists("/usr/sbin/keepalived")) {
      GTEST_SKIP() << "keepalived is not installed (apt-get install keepalived; scripts/install-deps.sh)";
    }
    lab_ = std::make_unique<mt::NetnsLab>("mgha");
    dir_ = mt::temp_dir();
    a_ = {"a", lab_->add_host("a", "10.213.0.11/24"), "10.213.0.11", {}, {}, {}};
    b_ = {"b", lab_->add_host("b", "10.213.0.12/24"), "10.213.0.12", {}, {}, {}};
    client_ns_ = lab_->add_host("c", "10.213.0.100/24");
    // a first, so that it is the master; b then joins as the backup.
    start(a_, b_, 150);
    ASSERT_TRUE(mt::wait_until([&] { return mt::NetnsLab::has_address(a_.ns, kVip); }, 10s, 50ms))
        << "node a never took the virtual IP; keepalived said:\n" << a_.keepalived->output();
    start(b_, a_, 100);
  }

  void TearDown() override {
    stop_load();
    for (Node* n : {&a_, &b_}) {
      if (HasFailure() && n->keepalived) std::cout << "keepalived " << n->name << ":\n" << n->keepalived->output();
      n->keepalived.reset();
      n->gateway.reset();
      n->sim.reset();
    }
    lab_.reset();  // deletes the namespaces, and with them every link and address
  }

  void start(Node& n, const Node& peer, int priority) {
    const std::string bin = MODELGATE_BIN;
    auto spawn = [&](std::vector<std::string> argv) {
      auto full = mt::NetnsLab::in(n.ns, std::move(argv));
      return std::make_unique<mt::Process>(full[0], std::vector<std::string>(full.begin() + 1, full.end()));
    };
    n.sim = spawn({bin, "sim", "--name", "node-" + n.name, "--listen", "127.0.0.1:8000", "--ttft-ms", "100",
                   "--tpot-ms", "25"});
    ASSERT_TRUE(n.sim->wait_for_line(std::regex("listening on"), 10s)) << n.sim->output();
    const auto gw_conf = dir_ + "/gateway-" + n.name + ".yml";
    std::ofstream(gw_conf) << gateway_config();
    n.gateway = spawn({bin, "serve", "--config", gw_conf, "--workers", "1"});
    ASSERT_TRUE(n.gateway->wait_for_line(std::regex("modelgate: ready"), 10s)) << n.gateway->output();
    const auto ka_conf = dir_ + "/keepalived-" + n.name + ".conf";
    std::ofstream(ka_conf) << keepalived_conf(n.address, peer.address, priority);
    const auto pid = dir_ + "/keepalived-" + n.name;
    n.keepalived = spawn({"/usr/sbin/keepalived", "--dont-fork", "--log-console", "--log-detail", "--vrrp",
                          "--use-file", ka_conf, "--pid", pid + ".pid", "--vrrp_pid", pid + "-vrrp.pid",
                          "--checkers_pid", pid + "-checkers.pid"});
  }

  // Client threads in the client namespace, each sending one request per fresh connection to
  // the virtual IP until stop_load().
  void start_load(int threads) {
    for (int i = 0; i < threads; ++i) {
      load_.emplace_back([this] {
        mt::enter_netns(client_ns_);
        while (!stop_) {
          Outcome o;
          o.start = Clock::now();
          mt::HttpClient c(kVip, 8080, 2s);
          auto r = c.post_json("/v1/chat/completions", mt::chat_json(kModel, 4));
          o.end = Clock::now();
          o.status = r.status;
          o.served_by = r.header("X-Served-By");
          o.error = r.error;
          {
            std::lock_guard lock(mutex_);
            outcomes_.push_back(o);
          }
          if (r.status != 200) std::this_thread::sleep_for(20ms);  // a refused connect returns at once
        }
      });
    }
  }
  void stop_load() {
    stop_ = true;
    for (auto& t : load_) t.join();
    load_.clear();
  }
  int served_by(const std::string& who) {
    std::lock_guard lock(mutex_);
    int n = 0;
    for (const auto& o : outcomes_) n += o.status == 200 && o.served_by == who;
    return n;
  }

  std::unique_ptr<mt::NetnsLab> lab_;
  std::string dir_, client_ns_;
  Node a_, b_;
  std::vector<std::thread> load_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<Outcome> outcomes_;
};

}  // namespace

TEST_F(HaPair, KillingTheActiveGatewayMovesTheAddressAndOnlyItsRequestsFail) {
  start_load(4);
  ASSERT_TRUE(mt::wait_until([&] { return served_by("node-a") >= 20; }, 10s)) << "no traffic through node a";

  const auto killed = Clock::now();
  a_.gateway->kill();
  ASSERT_TRUE(mt::wait_until([&] { return mt::NetnsLab::has_address(b_.ns, kVip); }, 10s, 20ms))
      << "the virtual IP did not move to node b";
  const auto moved = Clock::now();
  EXPECT_FALSE(mt::NetnsLab::has_address(a_.ns, kVip)) << "both nodes hold the virtual IP";
  // Load goes on through node b for a while.
  ASSERT_TRUE(mt::wait_until([&] { return served_by("node-b") >= 20 && Clock::now() > moved + 2s; }, 10s))
      << "no traffic through node b";
  stop_load();

  int before = 0, in_flight = 0, failed = 0, after = 0, after_ok = 0;
  std::optional<Clock::time_point> first_b;  // the first answer through node b ended
  const auto settled = moved + 1s;  // the client's ARP entry follows the gratuitous ARP
  for (const auto& o : outcomes_) {
    if (o.end < killed) {
      ++before;
      EXPECT_EQ(o.status, 200) << "before the kill: " << o.error;
      EXPECT_EQ(o.served_by, "node-a");
      continue;
    }
    if (o.start < killed) ++in_flight;
    if (o.status != 200) {
      ++failed;
      EXPECT_LT(o.start, settled) << "a request sent " << ms(o.start - moved)
                                  << " ms after the address moved failed: " << o.error;
    } else {
      EXPECT_EQ(o.served_by, o.start < killed ? o.served_by : std::string("node-b"));
      if (o.served_by == "node-b" && (!first_b || o.end < *first_b)) first_b = o.end;
    }
    if (o.start >= settled) {
      ++after;
      after_ok += o.status == 200;
    }
  }
  ASSERT_TRUE(first_b);
  const double failover_ms = ms(*first_b - killed);
  std::cout << "HA failover: address on node b " << ms(moved - killed) << " ms after SIGKILL, first answer "
            << "through node b complete " << failover_ms << " ms after SIGKILL; requests: " << before << " before, "
            << in_flight << " in flight at the kill, " << failed << " failed, " << after_ok << "/" << after
            << " ok after the move" << std::endl;
  RecordProperty("failover_ms", static_cast<int>(failover_ms));
  EXPECT_LT(failover_ms, 5000) << "new requests did not succeed within a few seconds";
  EXPECT_GT(after, 0);
  EXPECT_EQ(after_ok, after);
}

TEST_F(HaPair, GatewayWithoutAUsableServerGivesUpTheAddress) {
  start_load(2);
  ASSERT_TRUE(mt::wait_until([&] { return served_by("node-a") >= 5; }, 10s)) << "no traffic through node a";

  const auto killed = Clock::now();
  a_.sim.reset();  // node a's only model server dies; its gateway stays up
  ASSERT_TRUE(mt::wait_until([&] { return mt::NetnsLab::has_address(b_.ns, kVip); }, 10s, 20ms))
      << "the virtual IP did not move to node b";
  std::cout << "HA: address moved " << ms(Clock::now() - killed) << " ms after node a's server died" << std::endl;
  EXPECT_FALSE(mt::NetnsLab::has_address(a_.ns, kVip));
  EXPECT_TRUE(a_.gateway->running()) << "node a's gateway should be up, only not ready";
  auto ready = mt::run_command(mt::NetnsLab::in(a_.ns, {"curl", "-s", "http://127.0.0.1:9090/ready"}));
  EXPECT_NE(ready.find("no usable server"), std::string::npos) << ready;

  const auto moved = Clock::now();
  ASSERT_TRUE(mt::wait_until([&] { return served_by("node-b") >= 10; }, 10s)) << "no traffic through node b";
  stop_load();
  for (const auto& o : outcomes_) {
    if (o.start >= moved + 1s) {
      EXPECT_EQ(o.status, 200) << o.error;
    }
  }
}

TEST_F(HaPair, SigtermHandsTheAddressOverWithoutRefusingConnections) {
  constexpr int kThreads = 4;
  start_load(kThreads);
  ASSERT_TRUE(mt::wait_until([&] { return served_by("node-a") >= 20; }, 10s)) << "no traffic through node a";

  const auto signalled = Clock::now();
  a_.gateway->signal(SIGTERM);  // /ready turns 503, the listeners stay open for acceptGrace (3 s)
  ASSERT_TRUE(mt::wait_until([&] { return mt::NetnsLab::has_address(b_.ns, kVip); }, 10s, 20ms))
      << "the virtual IP did not move to node b";
  const auto moved = Clock::now();
  ASSERT_TRUE(mt::wait_until([&] { return served_by("node-b") >= 20 && Clock::now() > moved + 2s; }, 10s))
      << "no traffic through node b";
  stop_load();

  int failed = 0, a_after_signal = 0;
  for (const auto& o : outcomes_) {
    if (o.status != 200) {
      ++failed;
      std::cout << "failed " << ms(o.start - moved) << " ms from the move: " << o.error << std::endl;
    } else if (o.served_by == "node-a" && o.start > signalled) {
      ++a_after_signal;
    }
  }
  std::cout << "HA handover on SIGTERM: address on node b " << ms(moved - signalled) << " ms after it; "
            << a_after_signal << " requests sent meanwhile served by node a, " << failed << " of "
            << outcomes_.size() << " failed" << std::endl;
  EXPECT_GT(a_after_signal, 0) << "node a stopped accepting before the address moved";
  // At most the request each client had in flight through node a when the address moved.
  EXPECT_LE(failed, kThreads);
  EXPECT_EQ(a_.gateway->wait(10s), 0) << a_.gateway->output();
}
