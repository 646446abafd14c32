// The etcd provider end to end: real etcd (support/etcd_process.h), real gateways and `modelgate
// sim`s on loopback. A change put into etcd reaches every gateway (and how long that takes is
// printed), a bad value is refused with its key named while the old routing serves (and a file
// edit that supplies what etcd's state lacked applies both), a gateway started before etcd serves
// its file and picks etcd's part up later, etcd killed under load costs no request, with a change
// made meanwhile picked up when it is back, and `modelgate register` sidecars move servers in and
// out of both gateways' pools together (times printed).
//
// Routing used throughout: the file routes every path to `file-pool`; etcd's router
// Header(`X-Pool`, `etcd`) (longer rule, higher priority) routes to `etcd-pool`. Which sim answered
// is its X-Served-By header.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/etcd_process.h"
#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
using mt::wait_until;

const mt::Headers kEtcdPool = {{"X-Pool", "etcd"}};
const std::string kServers = "traefik/http/services/etcd-pool/loadbalancer/servers/";

std::string url(const mt::SimProcess& s) { return "http://" + s.address(); }

std::string gateway_yaml(const std::vector<std::string>& etcd_endpoints, const mt::SimProcess& file_sim) {
  std::string endpoints;
  for (const auto& e : etcd_endpoints) endpoints += (endpoints.empty() ? "\"" : ", \"") + e + "\"";
  return R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
providers:
  etcd:
    endpoints: [)y" + endpoints + R"y(]
    rootKey: traefik
http:
  routers:
    everything:
      rule: "PathPrefix(`/`)"
      service: file-pool
  services:
    file-pool:
      loadBalancer:
        servers:
          - url: )y" + url(file_sim) + "\n";
}

// etcd's router and pool over `sim`.
void put_etcd_pool(const mt::EtcdProcess& etcd, const mt::SimProcess& sim) {
  etcd.put("traefik/http/routers/by-header/rule", "Header(`X-Pool`, `etcd`)");
  etcd.put("traefik/http/routers/by-header/service", "etcd-pool");
  etcd.put(kServers + "0/url", url(sim));
}

// A real etcd holding etcd's router and pool over `a`, and the sims.
struct EtcdSetup {
  EtcdSetup() { put_etcd_pool(etcd, a); }
  std::string yaml() const { return gateway_yaml({etcd.endpoint()}, file_sim); }
  mt::EtcdProcess etcd;
  mt::SimProcess file_sim{"file-sim"}, a{"sim-a"}, b{"sim-b"};
};

struct Gateway {
  explicit Gateway(const std::string& yaml) : process(yaml), admin("127.0.0.1", mt::admin_port(process.process())) {}
  mt::GatewayProcess process;
  mt::HttpClient admin;

  // The sim that answers a request with `headers` ("" when none did).
  std::string served_by(const mt::Headers& headers = kEtcdPool) {
    mt::HttpClient c("127.0.0.1", process.port(), 2s);
    auto r = c.get("/v1/models", headers);
    return r.status == 200 ? r.header("X-Served-By") : "";
  }
  // providers[0] of GET /api/status: connected, revision, last_error; and last_reload's errors.
  struct Provider {
    bool found = false, connected = false;
    std::int64_t revision = 0;
    std::string last_error, reload_errors;
  };
  Provider provider() {
    Provider p;
    auto r = admin.get("/api/status");
    mt::Json j(r.body);
    if (r.status != 200 || !j.ok) return p;
    simdjson::dom::array providers;
    if (j.root["providers"].get(providers) || providers.size() == 0) return p;
    simdjson::dom::element e = providers.at(0);
    p.found = true;
    bool c = false;
    if (!e["connected"].get(c)) p.connected = c;
    p.revision = mt::num(e, "revision");
    p.last_error = mt::str(e, "last_error");
    simdjson::dom::array errors;
    if (!j.root["last_reload"]["errors"].get(errors)) {
      for (auto x : errors) {
        std::string_view s;
        if (!x.get(s)) p.reload_errors += std::string(s) + "\n";
      }
    }
    return p;
  }
  std::string metrics() { return admin.get("/metrics").body; }
  // The server URLs of etcd-pool as this gateway has them (GET /api/services/etcd-pool).
  std::set<std::string> pool() {
    std::set<std::string> urls;
    auto r = admin.get("/api/services/etcd-pool");
    mt::Json j(r.body);
    simdjson::dom::array servers;
    if (r.status != 200 || !j.ok || j.root["servers"].get(servers)) return urls;
    for (auto server : servers) urls.insert(mt::str(server, "url"));
    return urls;
  }
};

// `modelgate register` for `sim` into etcd-pool: checks every 100 ms, a lease of 2 s.
std::unique_ptr<mt::Process> start_register(const mt::EtcdProcess& etcd, const mt::SimProcess& sim) {
  return std::make_unique<mt::Process>(
      MODELGATE_BIN, std::vector<std::string>{"register", "--etcd", etcd.endpoint(), "--root-key", "traefik",
                                              "--service", "etcd-pool", "--url", url(sim), "--health", "/health",
                                              "--ttl", "2s", "--interval", "100ms", "--timeout", "500ms"});
}

TEST(EtcdProvider, AChangeReachesTwoGatewaysQuickly) {
  EtcdSetup s;
  mt::EtcdProcess& etcd = s.etcd;
  const mt::SimProcess &a = s.a, &b = s.b;
  Gateway g1(s.yaml()), g2(s.yaml());
  // etcd answered at start: its part serves from the first request.
  EXPECT_EQ(g1.served_by(), "sim-a") << g1.process.process().output();
  EXPECT_EQ(g2.served_by(), "sim-a");
  EXPECT_EQ(g1.served_by({}), "file-sim");
  EXPECT_TRUE(g1.provider().connected);

  std::vector<double> ms, after_put;
  for (int round = 0; round < 5; ++round) {
    const mt::SimProcess& to = round % 2 == 0 ? b : a;
    const auto start = Clock::now();
    etcd.put(kServers + "0/url", url(to));
    const auto written = Clock::now();  // etcdctl has exited: the put is committed
    bool on1 = false, on2 = false;
    ASSERT_TRUE(wait_until([&] {
      on1 = on1 || g1.served_by() == to.name();
      on2 = on2 || g2.served_by() == to.name();
      return on1 && on2;
    }, 5s, 1ms)) << g1.process.process().output();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    after_put.push_back(std::chrono::duration<double, std::milli>(Clock::now() - written).count());
  }
  std::sort(ms.begin(), ms.end());
  std::sort(after_put.begin(), after_put.end());
  std::printf("etcd put -> both gateways route to the new server: median %.1f ms, max %.1f ms from "
              "starting etcdctl; median %.1f ms, max %.1f ms from its exit (5 changes)\n",
              ms[2], ms[4], after_put[2], after_put[4]);
  EXPECT_LT(ms[4], 2000.0);
  const std::string m = g1.metrics();
  EXPECT_NE(m.find("modelgate_provider_connected{provider=\"etcd\"} 1"), std::string::npos) << m;
  EXPECT_NE(m.find("modelgate_provider_updates_total{provider=\"etcd\",result=\"applied\"}"), std::string::npos);
}

TEST(EtcdProvider, ABadValueIsRefusedWithItsKeyAndTheOldRoutingServes) {
  EtcdSetup s;
  mt::EtcdProcess& etcd = s.etcd;
  const mt::SimProcess& b = s.b;
  Gateway g(s.yaml());
  ASSERT_EQ(g.served_by(), "sim-a");

  etcd.put(kServers + "0/weight", "heavy");
  ASSERT_TRUE(wait_until([&] { return !g.provider().last_error.empty(); }, 5s)) << g.process.process().output();
  const auto p = g.provider();
  const std::string key = "etcd key traefik/http/services/etcd-pool/loadbalancer/servers/0/weight";
  EXPECT_NE(p.last_error.find(key), std::string::npos) << p.last_error;
  EXPECT_NE(p.reload_errors.find(key), std::string::npos) << p.reload_errors;
  EXPECT_NE(p.reload_errors.find("expected an integer, got \"heavy\""), std::string::npos) << p.reload_errors;
  EXPECT_TRUE(p.connected);
  etcd.put(kServers + "0/url", url(b));  // still refused: the weight is still bad
  for (int i = 0; i < 20; ++i) EXPECT_EQ(g.served_by(), "sim-a");
  EXPECT_NE(g.metrics().find("modelgate_provider_updates_total{provider=\"etcd\",result=\"rejected\"} 2"),
            std::string::npos)
      << g.metrics();

  etcd.put(kServers + "0/weight", "2");  // fixed: the whole new state applies
  EXPECT_TRUE(wait_until([&] { return g.served_by() == "sim-b"; }, 5s));
  EXPECT_EQ(g.provider().last_error, "");
}

// A router in etcd that names a service the file does not have yet is refused; the file edit
// that adds the service applies both at once (the refused state is tried again with the file).
TEST(EtcdProvider, AFileEditThatCompletesARefusedEtcdStateAppliesIt) {
  EtcdSetup s;
  Gateway g(s.yaml());
  ASSERT_EQ(g.served_by(), "sim-a");
  s.etcd.put("traefik/http/routers/by-header/service", "extra");
  ASSERT_TRUE(wait_until([&] { return !g.provider().last_error.empty(); }, 5s));
  EXPECT_NE(g.provider().last_error.find("unknown service \"extra\""), std::string::npos) << g.provider().last_error;
  EXPECT_EQ(g.served_by(), "sim-a");

  g.process.write_config(s.yaml() + "    extra:\n      loadBalancer:\n        servers:\n          - url: " +
                         url(s.b) + "\n");
  EXPECT_TRUE(wait_until([&] { return g.served_by() == "sim-b"; }, 10s)) << g.process.process().output();
  EXPECT_EQ(g.provider().last_error, "");
}

TEST(EtcdProvider, StartedWhileEtcdIsDownServesTheFileThenPicksEtcdUp) {
  EtcdSetup s;
  mt::EtcdProcess& etcd = s.etcd;
  etcd.stop();
  Gateway g(s.yaml());
  EXPECT_EQ(g.served_by({}), "file-sim");
  EXPECT_EQ(g.served_by(), "file-sim");  // etcd's router is not there yet
  auto p = g.provider();
  ASSERT_TRUE(p.found);
  EXPECT_FALSE(p.connected);
  EXPECT_NE(p.last_error.find("etcd unreachable"), std::string::npos) << p.last_error;
  EXPECT_NE(g.metrics().find("modelgate_provider_connected{provider=\"etcd\"} 0"), std::string::npos);

  etcd.start();
  EXPECT_TRUE(wait_until([&] { return g.served_by() == "sim-a"; }, 10s)) << g.process.process().output();
  EXPECT_TRUE(g.provider().connected);
  EXPECT_EQ(g.served_by({}), "file-sim");
}

TEST(EtcdProvider, EtcdKilledUnderLoadCostsNoRequestAndAChangeMadeMeanwhileIsPickedUp) {
  EtcdSetup s;
  mt::EtcdProcess& etcd = s.etcd;
  const mt::SimProcess& b = s.b;
  Gateway g(s.yaml());
  ASSERT_EQ(g.served_by(), "sim-a");

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::string first_failure;
  std::thread load([&] {
    mt::HttpClient c("127.0.0.1", g.process.port(), 5s);
    while (!stop) {
      auto r = c.get("/v1/models", kEtcdPool);
      if (r.status == 200) {
        ++ok;
      } else if (failed++ == 0) {
        first_failure = std::to_string(r.status) + " " + r.error + " " + r.body;
      }
    }
  });

  etcd.kill();
  ASSERT_TRUE(wait_until([&] { return !g.provider().connected; }, 5s));
  const int before = ok;
  ASSERT_TRUE(wait_until([&] { return ok > before + 200; }, 10s));  // served while etcd is down

  // A change the gateway cannot see: a second etcd on the same data directory, another port.
  const std::uint16_t other = mt::free_port(), peer = mt::free_port();
  {
    const std::string client = "http://127.0.0.1:" + std::to_string(other);
    const std::string peers = "http://127.0.0.1:" + std::to_string(peer);
    mt::Process second("etcd", {"--name", "test", "--data-dir", etcd.data_dir(), "--listen-client-urls", client,
                                "--advertise-client-urls", client, "--listen-peer-urls", peers,
                                "--initial-advertise-peer-urls", peers, "--initial-cluster", "test=" + peers});
    ASSERT_TRUE(second.wait_for_line(std::regex("ready to serve client requests"), 30s)) << second.output();
    mt::Process put("etcdctl", {"--endpoints", "127.0.0.1:" + std::to_string(other), "put", kServers + "0/url", url(b)},
                    {"ETCDCTL_API=3"});
    ASSERT_EQ(put.wait(15s), 0) << put.output();
    second.signal(SIGTERM);
    ASSERT_TRUE(second.wait(20s));
  }
  EXPECT_EQ(g.served_by(), "sim-a");  // not seen yet

  etcd.start();
  EXPECT_TRUE(wait_until([&] { return g.served_by() == "sim-b"; }, 15s)) << g.process.process().output();
  EXPECT_TRUE(g.provider().connected);
  stop = true;
  load.join();
  std::printf("requests while etcd was killed, replaced and restarted: %d served, %d failed\n", ok.load(),
              failed.load());
  EXPECT_EQ(failed, 0) << first_failure;
  EXPECT_GT(ok, 200);
}

// Membership through register sidecars: the gateways agree on etcd-pool's servers within a few
// milliseconds of each other; a sidecar SIGKILLed takes its server out of both pools when its
// lease lapses; a server that stops answering is withdrawn by its sidecar at once. etcd-pool keeps
// its static server `a` throughout.
TEST(EtcdProvider, RegisteredServersJoinAndLeaveEveryGatewaysPoolTogether) {
  EtcdSetup s;
  mt::SimProcess c("sim-c"), d("sim-d");
  Gateway g1(s.yaml()), g2(s.yaml());
  const std::string c_url = url(c), d_url = url(d);

  // Polls both pools every millisecond until `holds` is true of both; the moments each got there.
  auto watch_both = [&](const std::function<bool(const std::set<std::string>&)>& holds,
                        std::chrono::milliseconds bound) {
    std::optional<Clock::time_point> at1, at2;
    wait_until([&] {
      if (!at1 && holds(g1.pool())) at1 = Clock::now();
      if (!at2 && holds(g2.pool())) at2 = Clock::now();
      return at1 && at2;
    }, bound, 1ms);
    return std::pair(at1, at2);
  };
  auto ms = [](Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double, std::milli>(to - from).count();
  };

  const auto joined = Clock::now();
  auto reg_c = start_register(s.etcd, c);
  auto reg_d = start_register(s.etcd, d);
  auto [in1, in2] = watch_both([&](const auto& p) { return p.count(c_url) && p.count(d_url); }, 10s);
  ASSERT_TRUE(in1 && in2) << reg_c->output() << g1.process.process().output();
  std::printf("register: both sidecars started -> in both gateways' pools after %.0f ms; the gateways "
              "%.1f ms apart\n", ms(joined, std::max(*in1, *in2)), std::abs(ms(*in1, *in2)));
  EXPECT_LT(std::abs(ms(*in1, *in2)), 1000.0);
  EXPECT_TRUE(wait_until([&] { return g1.served_by() == "sim-c"; }, 5s));  // round robin reaches it

  // The sidecar's machine "dies": nobody renews the lease, etcd deletes the key after its TTL.
  const auto killed = Clock::now();
  reg_c->kill();
  auto [out1, out2] = watch_both([&](const auto& p) { return !p.count(c_url); }, 10s);
  ASSERT_TRUE(out1 && out2) << g1.process.process().output();
  const double lapse = ms(killed, std::max(*out1, *out2));
  std::printf("register: sidecar SIGKILLed (ttl 2s) -> out of both pools after %.0f ms; the gateways %.1f ms "
              "apart\n", lapse, std::abs(ms(*out1, *out2)));
  EXPECT_GT(lapse, 1000.0);  // the lease, not something else, took it out
  EXPECT_LT(std::abs(ms(*out1, *out2)), 1000.0);
  EXPECT_TRUE(g1.pool().count(d_url));

  // The model server stops answering: its sidecar withdraws it at its next check.
  const auto stopped = Clock::now();
  d.process().kill();
  auto [gone1, gone2] = watch_both([&](const auto& p) { return !p.count(d_url); }, 5s);
  ASSERT_TRUE(gone1 && gone2) << reg_d->output();
  const double withdrawn = ms(stopped, std::max(*gone1, *gone2));
  std::printf("register: model server killed -> out of both pools after %.0f ms (checks every 100 ms)\n",
              withdrawn);
  EXPECT_LT(withdrawn, 2000.0);  // well before the lease would have lapsed
  EXPECT_EQ(g1.pool(), (std::set<std::string>{url(s.a)}));
  EXPECT_EQ(g2.pool(), (std::set<std::string>{url(s.a)}));
}

// A service whose servers all come from sidecars: while none is registered it is an empty pool
// (502), not a refused state — refusing it kept the last server that left and blocked every later
// etcd change. The service exists through a key of its own (its strategy).
TEST(EtcdProvider, AServiceWhoseLastRegisteredServerLeftIsAnEmptyPoolAndLaterChangesApply) {
  mt::EtcdProcess etcd;
  mt::SimProcess file_sim("file-sim"), c("sim-c");
  etcd.put("traefik/http/routers/by-header/rule", "Header(`X-Pool`, `etcd`)");
  etcd.put("traefik/http/routers/by-header/service", "etcd-pool");
  etcd.put("traefik/http/services/etcd-pool/loadbalancer/strategy", "round_robin");
  Gateway g(gateway_yaml({etcd.endpoint()}, file_sim));
  auto status_with_header = [&] {
    mt::HttpClient client("127.0.0.1", g.process.port(), 2s);
    return client.get("/v1/models", kEtcdPool).status;
  };
  // Accepted with no server: the header's router exists and answers 502 (before: refused, so the
  // request fell through to the file's router and file-sim answered).
  ASSERT_TRUE(wait_until([&] { return g.provider().connected; }, 5s)) << g.process.process().output();
  EXPECT_EQ(status_with_header(), 502) << g.provider().reload_errors;

  auto reg = start_register(etcd, c);
  ASSERT_TRUE(wait_until([&] { return g.served_by() == "sim-c"; }, 5s)) << reg->output();

  reg->signal(SIGTERM);  // the lease is revoked: the last server leaves
  ASSERT_TRUE(wait_until([&] { return g.pool().empty(); }, 5s)) << g.provider().reload_errors;
  EXPECT_EQ(status_with_header(), 502);
  EXPECT_EQ(g.provider().last_error, "");

  // A later change still applies.
  etcd.put("traefik/http/routers/other/rule", "Header(`X-Pool`, `file`)");
  etcd.put("traefik/http/routers/other/service", "file-pool");
  EXPECT_TRUE(wait_until([&] { return g.admin.get("/api/routers").body.find("\"other") != std::string::npos; }, 5s))
      << g.provider().reload_errors;
}

}  // namespace
