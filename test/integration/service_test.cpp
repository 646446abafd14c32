// Running as a service: the gateway's sd_notify messages seen on a NOTIFY_SOCKET the test binds
// (READY=1 only once the port answers, RELOADING=1/READY=1 around reloads, STOPPING=1 on SIGTERM),
// `modelgate version` and `--help` of every command, `make install`'s layout (cmake --install
// into a DESTDIR), the unit file through `systemd-analyze verify`, and port 80 bound without root
// through the capability the unit grants.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/notify_socket.h"
#include "support/process.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string config_over(const mt::SimProcess& sim, const std::string& extra = "") {
  return mt::pool_config({sim.port()}) + "admin: {address: \"127.0.0.1:0\"}\n" + extra;
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint16_t entry_point_port(mt::Process& gateway) {
  auto line = gateway.wait_for_line(std::regex(R"(entry point web listening on \S+:(\d+))"), 1ms);
  return line ? static_cast<std::uint16_t>(std::stoi((*line)[1])) : 0;
}

// `modelgate serve` on `config`, told to notify `notify`.
std::unique_ptr<mt::Process> serve(const std::string& config, const mt::NotifySocket& notify) {
  return std::make_unique<mt::Process>(
      MODELGATE_BIN, std::vector<std::string>{"serve", "--config", config, "--workers", "2"},
      std::vector<std::string>{notify.env()});
}

TEST(Service, ReadyIsNotifiedOnlyOnceThePortAnswers) {
  mt::SimProcess sim("svc1");
  mt::NotifySocket notify;
  auto gw = serve(write_file(mt::temp_dir() + "/gw.yaml", config_over(sim)), notify);
  auto ready = notify.wait_for("READY=1", 10s);
  ASSERT_TRUE(ready) << gw->output() << notify.dump();
  // At the moment READY=1 arrives, the entry point is bound and answers.
  const auto port = entry_point_port(*gw);
  ASSERT_NE(port, 0) << gw->output();
  mt::HttpClient client("127.0.0.1", port);
  EXPECT_EQ(client.get("/v1/models").status, 200);
  EXPECT_EQ(*ready, 0u) << "nothing before READY=1:\n" << notify.dump();
  EXPECT_NE(notify.value(*ready, "STATUS").find("serving"), std::string::npos) << notify.dump();
}

TEST(Service, ReloadsAreNotifiedOnSighupAndOnAFileChange) {
  mt::SimProcess sim("svc2");
  mt::NotifySocket notify;
  const auto config = write_file(mt::temp_dir() + "/gw.yaml", config_over(sim));
  auto gw = serve(config, notify);
  auto ready = notify.wait_for("READY=1", 10s);
  ASSERT_TRUE(ready) << gw->output() << notify.dump();

  auto expect_reload = [&](std::size_t after, const std::string& what) -> std::size_t {
    auto reloading = notify.wait_for("RELOADING=1", 10s, after + 1);
    EXPECT_TRUE(reloading) << what << "\n" << notify.dump() << gw->output();
    if (!reloading) return after;
    const auto usec = notify.value(*reloading, "MONOTONIC_USEC");
    EXPECT_TRUE(std::regex_match(usec, std::regex(R"(\d+)"))) << notify.dump();
    auto again = notify.wait_for("READY=1", 10s, *reloading + 1);
    EXPECT_TRUE(again) << what << "\n" << notify.dump();
    return again.value_or(*reloading);
  };

  gw->signal(SIGHUP);
  auto last = expect_reload(*ready, "SIGHUP");
  write_file(config, config_over(sim, "log: {level: info}\n"));
  last = expect_reload(last, "file changed");
  write_file(config, "entryPoints: [\n");  // invalid: rejected, the old config keeps serving
  last = expect_reload(last, "invalid file");
  EXPECT_NE(notify.value(last, "STATUS").find("rejected"), std::string::npos) << notify.dump();
  mt::HttpClient client("127.0.0.1", entry_point_port(*gw));
  EXPECT_EQ(client.get("/v1/models").status, 200);
}

TEST(Service, StoppingIsNotifiedOnSigterm) {
  mt::SimProcess sim("svc3");
  mt::NotifySocket notify;
  auto gw = serve(write_file(mt::temp_dir() + "/gw.yaml", config_over(sim)), notify);
  auto ready = notify.wait_for("READY=1", 10s);
  ASSERT_TRUE(ready) << gw->output();
  gw->signal(SIGTERM);
  EXPECT_TRUE(notify.wait_for("STOPPING=1", 10s, *ready + 1)) << notify.dump();
  EXPECT_EQ(gw->wait(15s), 0) << gw->output();
}

// The exit code and output of `modelgate ARGS...`.
std::pair<int, std::string> run(std::vector<std::string> args, std::vector<std::string> env = {},
                                std::string binary = MODELGATE_BIN) {
  mt::Process p(std::move(binary), std::move(args), std::move(env));
  const auto code = p.wait(60s);
  return {code.value_or(-1), p.output()};
}

TEST(Service, VersionAndHelpOfEveryCommand) {
  auto [code, out] = run({"version"});
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(^modelgate \d+\.\d+\.\d+)"))) << out;
  auto [vcode, vout] = run({"--version"});
  EXPECT_EQ(vcode, 0);
  EXPECT_EQ(vout, out);

  auto [hcode, help] = run({"--help"});
  EXPECT_EQ(hcode, 0);
  for (const std::string command : {"serve", "check", "demo", "sim", "bench", "version"}) {
    EXPECT_NE(help.find(command), std::string::npos) << command << " missing from:\n" << help;
    auto [c, text] = run({command, "--help"});
    EXPECT_EQ(c, 0) << command;
    EXPECT_NE(text.find("Usage:"), std::string::npos) << command << ":\n" << text;
    EXPECT_NE(text.find(command), std::string::npos) << command << ":\n" << text;
  }
}

TEST(Service, InstallLaysOutBinaryUnitAndExampleConfig) {
  const auto dest = mt::temp_dir() + "/root";
  auto [code, out] =
      run({"--install", MODELGATE_BUILD_DIR, "--prefix", "/usr"}, {"DESTDIR=" + dest}, MODELGATE_CMAKE);
  ASSERT_EQ(code, 0) << out;
  const auto binary = dest + "/usr/bin/modelgate";
  const auto unit = dest + "/usr/lib/systemd/system/modelgate.service";
  const auto config = dest + "/etc/modelgate/modelgate.yml";
  ASSERT_TRUE(fs::exists(binary)) << out;
  EXPECT_NE(fs::status(binary).permissions() & fs::perms::others_exec, fs::perms::none);
  ASSERT_TRUE(fs::exists(unit)) << out;
  EXPECT_NE(read_file(unit).find("ExecStart=/usr/bin/modelgate serve --config /etc/modelgate/modelgate.yml"),
            std::string::npos);
  ASSERT_TRUE(fs::exists(config)) << out;
  auto [check, why] = run({"check", "--config", config}, {}, binary);
  EXPECT_EQ(check, 0) << why;

  // Another prefix: ExecStart follows it; an installed configuration is never overwritten.
  write_file(config, "# the operator's own\n");
  auto [code2, out2] =
      run({"--install", MODELGATE_BUILD_DIR, "--prefix", "/opt/mg"}, {"DESTDIR=" + dest}, MODELGATE_CMAKE);
  ASSERT_EQ(code2, 0) << out2;
  EXPECT_NE(read_file(dest + "/opt/mg/lib/systemd/system/modelgate.service")
                .find("ExecStart=/opt/mg/bin/modelgate serve"),
            std::string::npos);
  EXPECT_EQ(read_file(config), "# the operator's own\n");
}

TEST(Service, UnitFilePassesSystemdAnalyzeVerify) {
  const char* analyze = "/usr/bin/systemd-analyze";
  if (!fs::exists(analyze)) GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";
  // The unit as installed, its ExecStart pointed at this build (verify checks it is executable).
  auto unit = read_file(MODELGATE_SOURCE_DIR "/deploy/systemd/modelgate.service");
  unit = std::regex_replace(unit, std::regex("/usr/bin/modelgate"), MODELGATE_BIN);
  const auto path = write_file(mt::temp_dir() + "/modelgate.service", unit);
  auto [code, out] = run({"verify", path}, {}, analyze);
  EXPECT_EQ(code, 0) << out;
  EXPECT_EQ(out, "") << "systemd-analyze verify has remarks";
}

// The unit's CapabilityBoundingSet/AmbientCapabilities, reproduced with setpriv: an unprivileged
// user binds port 80 with CAP_NET_BIND_SERVICE, and cannot without it.
TEST(Service, PortEightyWithoutRootThroughTheCapability) {
  const char* setpriv = "/usr/bin/setpriv";
  if (!fs::exists(setpriv) || ::geteuid() != 0) GTEST_SKIP() << "needs root and setpriv (util-linux)";
  mt::SimProcess sim("svc4");
  char dir_template[] = "/tmp/modelgate-cap-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  ::chmod(dir.c_str(), 0755);
  auto yaml = config_over(sim);
  yaml = std::regex_replace(yaml, std::regex("127\\.0\\.0\\.1:0\"\n"), "127.0.0.80:80\"\n",
                            std::regex_constants::format_first_only);
  const auto config = write_file(dir + "/gw.yaml", yaml);
  ::chmod(config.c_str(), 0644);
  const std::vector<std::string> nobody = {"--reuid=65534", "--regid=65534", "--clear-groups"};

  auto without = nobody;
  without.insert(without.end(), {MODELGATE_BIN, "serve", "--config", config, "--workers", "1"});
  auto [code, out] = run(without, {}, setpriv);
  EXPECT_EQ(code, 1) << out;
  EXPECT_NE(out.find("ermission denied"), std::string::npos) << out;

  auto with = nobody;
  with.insert(with.end(), {"--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service", MODELGATE_BIN,
                           "serve", "--config", config, "--workers", "1"});
  mt::Process gw(setpriv, with);
  ASSERT_TRUE(gw.wait_for_line(std::regex("modelgate: ready"), 10s)) << gw.output();
  mt::HttpClient client("127.0.0.80", 80);
  EXPECT_EQ(client.get("/v1/models").status, 200);
  fs::remove_all(dir);
}

}  // namespace
