// The TCP listener (docs/tcp.md) end to end: the gateway binary relaying to echo servers that
// name themselves, to `openssl s_server` backends chosen by SNI, and to a `modelgate sim` over
// HTTP; balance, health, drain, idle timeout, PROXY protocol v2, metrics and config errors.
#include <gtest/gtest.h>

#include <signal.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/notify_socket.h"
#include "support/json.h"
#include "support/sim_process.h"
#include "support/tcp_servers.h"
#include "support/tls_files.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

std::string servers_yaml(const std::vector<const mt::EchoServer*>& servers) {
  std::string out = "[";
  for (const auto* s : servers) out += (out.size() > 1 ? ", " : "") + std::string("{address: \"") + s->address() + "\"}";
  return out + "]";
}

// Entry point `tcp-in` relaying every connection to service `engines` over `servers`; `lb` is
// more YAML inside loadBalancer's braces, `extra` more top-level YAML.
std::string tcp_config(const std::vector<const mt::EchoServer*>& servers, const std::string& lb = "",
                       const std::string& extra = "") {
  return "entryPoints:\n"
         "  tcp-in: {address: \"127.0.0.1:0\"}\n"
         "admin: {address: \"127.0.0.1:0\"}\n" + extra +
         "tcp:\n"
         "  routers:\n"
         "    all: {entryPoints: [tcp-in], rule: \"HostSNI(`*`)\", service: engines}\n"
         "  services:\n"
         "    engines: {loadBalancer: {servers: " + servers_yaml(servers) + (lb.empty() ? "" : ", " + lb) + "}}\n";
}

// The name the server greets with ("e1\n" -> "e1"), "" when the connection gave nothing.
std::string greeting(mt::TcpClient& c) {
  auto l = c.line();
  if (!l) return "";
  return l->substr(0, l->find_first_of(" \n"));
}

std::string served_by(std::uint16_t port, const std::string& source = "") {
  mt::TcpClient c(port, source);
  return greeting(c);
}

// GET /api/tcp/services: server address -> {state, open}.
struct ServerView {
  std::string state;
  std::uint64_t open = 0;
};
std::map<std::string, ServerView> tcp_servers(mt::HttpClient& admin) {
  std::map<std::string, ServerView> out;
  auto r = admin.get("/api/tcp/services");
  mt::Json j(r.body);
  if (!j.ok) return out;
  for (auto svc : j.root.get_array()) {
    for (auto s : svc["servers"].get_array()) {
      std::string_view address, state;
      std::uint64_t open = 0;
      if (s["address"].get(address) || s["state"].get(state) || s["open"].get(open)) continue;
      out[std::string(address)] = {std::string(state), open};
    }
  }
  return out;
}

TEST(TcpListener, RoundRobinSpreadsExactlyOverThreeServers) {
  mt::EchoServer a("a"), b("b"), c("c");
  mt::GatewayProcess gw(tcp_config({&a, &b, &c}), /*workers=*/1);
  std::map<std::string, int> seen;
  for (int i = 0; i < 30; ++i) ++seen[served_by(gw.port("tcp-in"))];
  EXPECT_EQ(seen, (std::map<std::string, int>{{"a", 10}, {"b", 10}, {"c", 10}}));
}

TEST(TcpListener, RelaysBothWaysAndHalfCloses) {
  mt::EchoServer a("a");
  mt::GatewayProcess gw(tcp_config({&a}, "terminationDelay: -1"));
  mt::TcpClient c(gw.port("tcp-in"));
  ASSERT_EQ(c.line(), "a\n");
  const std::string big(100000, 'x');
  c.send(big);
  c.shutdown_send();  // the echo of what was sent still comes back
  EXPECT_EQ(c.read(big.size()), big);
  EXPECT_TRUE(c.closed_by_peer());
}

TEST(TcpListener, LeastConnectionsSendsToTheServerWithFewest) {
  mt::EchoServer a("a"), b("b"), c("c");
  mt::GatewayProcess gw(tcp_config({&a, &b, &c}, "strategy: least_connections"));
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  // Each greeting is read before the next connection opens: the gateway has counted it by then.
  auto first = std::make_unique<mt::TcpClient>(gw.port("tcp-in"));
  const std::string x = greeting(*first);
  mt::TcpClient second(gw.port("tcp-in"));
  const std::string y = greeting(second);
  mt::TcpClient third(gw.port("tcp-in"));
  const std::string z = greeting(third);
  EXPECT_EQ((std::set<std::string>{x, y, z}), (std::set<std::string>{"a", "b", "c"}));
  first.reset();  // x now has none open, the others one each
  std::string x_address;
  for (const auto* s : {&a, &b, &c})
    if (s->name() == x) x_address = s->address();
  ASSERT_TRUE(mt::wait_until([&] { return tcp_servers(admin)[x_address].open == 0; }, 5s));
  mt::TcpClient fourth(gw.port("tcp-in"));
  EXPECT_EQ(greeting(fourth), x);
}

TEST(TcpListener, IpHashKeepsEachSourceOnOneServer) {
  mt::EchoServer a("a"), b("b"), c("c");
  mt::GatewayProcess gw(tcp_config({&a, &b, &c}, "strategy: ip_hash"));
  std::set<std::string> used;
  for (const std::string source : {"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7"}) {
    const std::string first = served_by(gw.port("tcp-in"), source);
    ASSERT_NE(first, "");
    for (int i = 0; i < 5; ++i) EXPECT_EQ(served_by(gw.port("tcp-in"), source), first) << source;
    used.insert(first);
  }
  EXPECT_GE(used.size(), 2u);  // sources are spread, not all on one
}

TEST(TcpListener, AServerThatStopsLeavesAndComesBack) {
  mt::EchoServer a("a");
  auto b = std::make_unique<mt::EchoServer>("b");
  const std::uint16_t b_port = b->port();
  const std::string b_address = b->address();
  mt::GatewayProcess gw(tcp_config({&a, b.get()}, "healthCheck: {interval: 100ms, timeout: 500ms, fall: 1, rise: 1}"));
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  ASSERT_TRUE(mt::wait_until([&] { return b->accepted() > 0; }, 5s));  // its connect checks arrive
  b->stop();
  ASSERT_TRUE(mt::wait_until([&] { return tcp_servers(admin)[b_address].state == "down"; }, 5s));
  for (int i = 0; i < 10; ++i) EXPECT_EQ(served_by(gw.port("tcp-in")), "a");
  b = std::make_unique<mt::EchoServer>("b", false, b_port);
  ASSERT_TRUE(mt::wait_until([&] { return tcp_servers(admin)[b_address].state == "up"; }, 5s));
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) seen.insert(served_by(gw.port("tcp-in")));
  EXPECT_EQ(seen, (std::set<std::string>{"a", "b"}));
}

// GET /ready counts the TCP services' servers: a gateway whose only service is down cannot serve.
TEST(TcpListener, ReadyFollowsTheTcpServers) {
  auto a = std::make_unique<mt::EchoServer>("a");
  const std::uint16_t a_port = a->port();
  mt::GatewayProcess gw(tcp_config({a.get()}, "healthCheck: {interval: 100ms, timeout: 500ms, fall: 1, rise: 1}"));
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  EXPECT_EQ(admin.get("/ready").status, 200);
  a->stop();
  EXPECT_TRUE(mt::wait_until([&] { return admin.get("/ready").status == 503; }, 5s));
  EXPECT_NE(admin.get("/ready").body.find("no usable server"), std::string::npos);
  a = std::make_unique<mt::EchoServer>("a", false, a_port);
  EXPECT_TRUE(mt::wait_until([&] { return admin.get("/ready").status == 200; }, 5s));
}

TEST(TcpListener, ARefusingServerIsSkipped) {
  mt::EchoServer a("a");
  auto gone = std::make_unique<mt::EchoServer>("gone");
  const std::string gone_address = gone->address();
  gone->stop();
  const std::string yaml =
      "entryPoints:\n  tcp-in: {address: \"127.0.0.1:0\"}\nadmin: {address: \"127.0.0.1:0\"}\n"
      "tcp:\n  routers:\n    all: {entryPoints: [tcp-in], rule: \"HostSNI(`*`)\", service: engines}\n"
      "  services:\n    engines: {loadBalancer: {servers: [{address: \"" + gone_address + "\"}, {address: \"" +
      a.address() + "\"}]}}\n";
  mt::GatewayProcess gw(yaml, 1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(served_by(gw.port("tcp-in")), "a");
  // Each connection tried it at most once, and at least every other one did (round robin).
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  const auto metrics = admin.get("/metrics").body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(metrics, m, std::regex("modelgate_tcp_connect_failures_total\\{service=\"engines\",server=\"" +
                                                           gone_address + "\"\\} (\\d+)")))
      << metrics;
  EXPECT_GE(std::stoi(m[1]), 2) << metrics;
  EXPECT_LE(std::stoi(m[1]), 4) << metrics;
}

TEST(TcpListener, SigtermLetsOpenConnectionsFinishAndRefusesNewOnes) {
  mt::EchoServer a("a");
  mt::GatewayProcess gw(tcp_config({&a}, "", "shutdown: {drainTimeout: 20s}\n"));
  const auto port = gw.port("tcp-in");
  mt::TcpClient open(port);
  ASSERT_EQ(open.line(), "a\n");
  gw.process().signal(SIGTERM);
  ASSERT_TRUE(mt::wait_until([&] { return mt::TcpClient::try_connect(port) == nullptr; }, 5s));
  open.send("still here\n");
  EXPECT_EQ(open.line(), "still here\n");
  EXPECT_TRUE(gw.process().running());
  open.shutdown_send();
  EXPECT_TRUE(open.closed_by_peer());
  EXPECT_EQ(gw.process().wait(10s), 0) << gw.process().output();
}

TEST(TcpListener, AnIdleConnectionIsClosed) {
  mt::EchoServer a("a");
  const std::string yaml = std::regex_replace(tcp_config({&a}), std::regex("127.0.0.1:0\"\\}\n"),
                                              "127.0.0.1:0\", timeouts: {idle: 300ms}}\n", std::regex_constants::format_first_only);
  mt::GatewayProcess gw(yaml);
  mt::TcpClient busy(gw.port("tcp-in")), idle(gw.port("tcp-in"));
  ASSERT_EQ(greeting(busy), "a");
  ASSERT_EQ(greeting(idle), "a");
  for (int i = 0; i < 8; ++i) {  // busy talks every 100 ms for 800 ms
    busy.send("ping\n");
    ASSERT_EQ(busy.line(), "ping\n") << i;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(idle.closed_by_peer(100));  // long closed by now
  busy.send("ping\n");
  EXPECT_EQ(busy.line(), "ping\n");
}

TEST(TcpListener, ProxyProtocolV2TellsTheServerWhoTheClientIs) {
  mt::EchoServer a("a", /*proxy_v2=*/true);
  mt::GatewayProcess gw(tcp_config({&a}, "proxyProtocol: {version: 2}, healthCheck: {interval: 100ms}"));
  mt::TcpClient c(gw.port("tcp-in"), "127.0.0.2");
  EXPECT_EQ(c.line(), "a from 127.0.0.2:" + std::to_string(c.local_port()) + "\n");
  c.send("hello\n");
  EXPECT_EQ(c.line(), "hello\n");
}

TEST(TcpListener, HttpThroughTheListenerToASim) {
  mt::SimProcess sim("s1");
  const std::string yaml =
      "entryPoints:\n  tcp-in: {address: \"127.0.0.1:0\"}\n"
      "tcp:\n  routers:\n    all: {entryPoints: [tcp-in], rule: \"HostSNI(`*`)\", service: engines}\n"
      "  services:\n    engines: {loadBalancer: {servers: [{address: \"" + sim.address() + "\"}]}}\n";
  mt::GatewayProcess gw(yaml);
  auto r = mt::run_command("curl", {"-sS", "--max-time", "10", "-w", "\n%{http_code}",
                                    "http://127.0.0.1:" + std::to_string(gw.port("tcp-in")) + "/v1/models"});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(r.output.ends_with("\n200")) << r.output;
  EXPECT_NE(r.output.find("\"object\""), std::string::npos) << r.output;
}

TEST(TcpListener, MetricsCountConnectionsAndBytes) {
  mt::EchoServer a("e1");
  mt::GatewayProcess gw(tcp_config({&a}));
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  {
    mt::TcpClient c(gw.port("tcp-in"));
    ASSERT_EQ(c.line(), "e1\n");
    c.send(std::string(999, 'y') + "\n");
    ASSERT_TRUE(c.read(1000));
  }
  const std::string labels = "{service=\"engines\",server=\"" + a.address() + "\"}";
  std::string metrics;
  EXPECT_TRUE(mt::wait_until(
      [&] {
        metrics = admin.get("/metrics").body;
        return metrics.find("modelgate_tcp_connections_open" + labels + " 0") != std::string::npos;
      },
      5s))
      << metrics;
  EXPECT_NE(metrics.find("modelgate_tcp_connections_total" + labels + " 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("modelgate_tcp_bytes_in_total" + labels + " 1000\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("modelgate_tcp_bytes_out_total" + labels + " 1003\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("modelgate_tcp_server_up" + labels + " 1\n"), std::string::npos) << metrics;
  // The admin API shows the same, and the tcp section of the configuration in effect.
  const auto services = admin.get("/api/tcp/services").body;
  EXPECT_NE(services.find("\"bytes_in\":1000,\"bytes_out\":1003"), std::string::npos) << services;
  const auto config = admin.get("/api/config").body;
  EXPECT_NE(config.find("\"tcp\":{\"routers\":{\"all\":{\"rule\":\"HostSNI(`*`)\""), std::string::npos) << config;
}

TEST(TcpListener, ABadConfigIsRefusedWithItsPlace) {
  const std::string dir = mt::temp_dir();
  const std::string path = dir + "/bad.yaml";
  std::ofstream(path) << "entryPoints:\n  tcp-in: {address: \"127.0.0.1:0\"}\n"
                         "tcp:\n  routers:\n    r: {entryPoints: [tcp-in], rule: \"HostSNI(`a.example`)\", service: s}\n"
                         "  services:\n    s: {loadBalancer: {servers: [{address: \"127.0.0.1:1\"}]}}\n";
  auto r = mt::run_command(MODELGATE_BIN, {"check", "--config", path});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.output.find(path + ":5:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("has HostSNI matcher, but no TLS on router"), std::string::npos) << r.output;
}

// SIGUSR2: the new process takes the TCP entry point's sockets over and serves new connections,
// while the old one keeps relaying the connection it holds until that ends, then exits.
TEST(TcpListener, ABinaryUpgradeKeepsServing) {
  mt::EchoServer a("a");
  mt::NotifySocket notify;
  const std::string config = mt::temp_dir() + "/tcp.yaml";
  std::ofstream(config) << tcp_config({&a}, "", "shutdown: {drainTimeout: 20s}\n");
  mt::Process gw(MODELGATE_BIN, {"serve", "--config", config, "--workers", "2"}, {notify.env()});
  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << gw.output();
  auto line = gw.wait_for_line(std::regex(R"(entry point tcp-in listening on \S+:(\d+))"), 1s);
  ASSERT_TRUE(line) << gw.output();
  const auto port = static_cast<std::uint16_t>(std::stoi((*line)[1]));
  mt::TcpClient held(port);
  ASSERT_EQ(held.line(), "a\n");

  gw.signal(SIGUSR2);
  auto handed = notify.wait_for("MAINPID=", 20s);
  ASSERT_TRUE(handed) << gw.output() << notify.dump();
  const pid_t successor = std::stoi(notify.value(*handed, "MAINPID"));
  struct Kill {
    pid_t pid;
    ~Kill() { ::kill(pid, SIGKILL); }
  } kill_successor{successor};
  for (int i = 0; i < 20; ++i) EXPECT_EQ(served_by(port), "a") << i;  // never refused across the handover
  held.send("old process\n");
  EXPECT_EQ(held.line(), "old process\n");
  EXPECT_TRUE(gw.running());
  held.shutdown_send();
  EXPECT_TRUE(held.closed_by_peer());
  EXPECT_EQ(gw.wait(15s), 0) << gw.output();
  EXPECT_EQ(served_by(port), "a");
}

// `openssl s_server` on a free port with the given certificate; ready once it says ACCEPT.
std::unique_ptr<mt::Process> s_server(std::uint16_t port, const std::string& cert, const std::string& key) {
  auto p = std::make_unique<mt::Process>("/usr/bin/openssl",
                                         std::vector<std::string>{"s_server", "-accept", "127.0.0.1:" + std::to_string(port),
                                                                  "-cert", cert, "-key", key, "-naccept", "100", "-quiet"});
  return p;
}

TEST(TcpListener, SniPassthroughReachesTheServerWithThatName) {
  const mt::TlsFiles f = mt::make_tls_files();
  const auto port_a = mt::free_port(), port_b = mt::free_port();
  auto a = s_server(port_a, f.cert, f.key);      // CN=localhost
  auto b = s_server(port_b, f.cert_b, f.key_b);  // CN=b.test
  const std::string yaml =
      "entryPoints:\n  tls-in: {address: \"127.0.0.1:0\"}\n"
      "tcp:\n  routers:\n"
      "    a: {entryPoints: [tls-in], rule: \"HostSNI(`a.test`)\", service: a, tls: {passthrough: true}}\n"
      "    b: {entryPoints: [tls-in], rule: \"HostSNIRegexp(`^b\\\\.`)\", service: b, tls: {passthrough: true}}\n"
      "  services:\n"
      "    a: {loadBalancer: {servers: [{address: \"127.0.0.1:" + std::to_string(port_a) + "\"}]}}\n"
      "    b: {loadBalancer: {servers: [{address: \"127.0.0.1:" + std::to_string(port_b) + "\"}]}}\n";
  mt::GatewayProcess gw(yaml);
  const auto port = gw.port("tls-in");
  ASSERT_TRUE(mt::wait_until([&] { return mt::served_cn(port, "a.test") == "localhost"; }, 10s, 100ms))
      << mt::served_cn(port, "a.test") << a->output();
  EXPECT_EQ(mt::served_cn(port, "b.test"), "b.test") << b->output();
  EXPECT_EQ(mt::served_cn(port, "A.TEST"), "localhost");
  EXPECT_NE(mt::served_cn(port, "c.test"), "localhost");  // no router: closed
  // Plain text where a ClientHello is expected has no name: no router takes it, it is closed.
  mt::TcpClient plain(port);
  plain.send("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n");
  EXPECT_TRUE(plain.closed_by_peer(2000));
}

// Beside TLS routers, a HostSNI(`*`) router takes the connections that are not TLS, with what they
// sent first; TLS with a name still goes by it.
TEST(TcpListener, PlainConnectionsGoToTheCatchAllBesideSniRouters) {
  const mt::TlsFiles f = mt::make_tls_files();
  const auto port_b = mt::free_port();
  auto b = s_server(port_b, f.cert_b, f.key_b);  // CN=b.test
  mt::EchoServer plain_server("plain");
  const std::string yaml =
      "entryPoints:\n  mixed: {address: \"127.0.0.1:0\"}\n"
      "tcp:\n  routers:\n"
      "    b: {entryPoints: [mixed], rule: \"HostSNI(`b.test`)\", service: b, tls: {passthrough: true}}\n"
      "    rest: {entryPoints: [mixed], rule: \"HostSNI(`*`)\", service: plain, priority: 1}\n"
      "  services:\n"
      "    b: {loadBalancer: {servers: [{address: \"127.0.0.1:" + std::to_string(port_b) + "\"}]}}\n"
      "    plain: {loadBalancer: {servers: [{address: \"" + plain_server.address() + "\"}]}}\n";
  mt::GatewayProcess gw(yaml);
  const auto port = gw.port("mixed");
  ASSERT_TRUE(mt::wait_until([&] { return mt::served_cn(port, "b.test") == "b.test"; }, 10s, 100ms)) << b->output();
  mt::TcpClient c(port);
  c.send("hello\n");
  EXPECT_EQ(c.line(), "plain\n");
  EXPECT_EQ(c.line(), "hello\n");  // the bytes read to tell TLS from plain were passed on
}

}  // namespace
