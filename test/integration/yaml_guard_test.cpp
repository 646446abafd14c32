// Files the YAML parser cannot finish (yaml-cpp 0.7.0 loops, allocating, on a lone ","): `check`
// and `serve` refuse them within seconds, a running gateway refuses them on reload and keeps its
// config, and the guard itself (config/parse_guard.h) with its time limit and its fallback when no
// child can be started. Real processes on loopback; every wait is bounded.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <chrono>
#include <csignal>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "config/loader.h"
#include "support/admin_status.h"
#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/process.h"
#include "support/sim_process.h"

namespace mg = modelgate;
namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kModel = "Qwen2.5-0.5B-Instruct";
constexpr const char* kParserGaveUp = ":1:1: error: the YAML parser could not read this file (";

std::string write(const std::string& text) {
  auto path = mt::temp_dir() + "/config.yaml";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Run {
  int code;
  std::string output;
  double seconds;
};

Run run(std::vector<std::string> args) {
  const auto start = Clock::now();
  mt::Process p(MODELGATE_BIN, std::move(args));
  auto code = p.wait(20s);
  const double took = seconds_since(start);
  p.wait_for_line(std::regex("(?!)"), 2s);  // never matches: returns once the output has ended
  return {code.value_or(-1), p.output(), took};
}

std::string valid_config(std::uint16_t upstream, int marker) {
  return "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nadmin: {address: \"127.0.0.1:0\"}\nhttp:\n"
         "  routers:\n"
         "    v1: {rule: \"PathPrefix(`/v1`)\", service: pool}\n"
         "    marker: {rule: \"Path(`/marker/" +
         std::to_string(marker) +
         "`)\", service: pool}\n"
         "  services:\n"
         "    pool: {loadBalancer: {servers: [{url: \"http://127.0.0.1:" +
         std::to_string(upstream) + "\"}]}}\n";
}

std::string chat() {
  return std::string("{\"model\":\"") + kModel +
         "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
}

using Status = mt::ReloadStatus;
Status status(mt::HttpClient& admin) { return mt::reload_status(admin); }

}  // namespace

TEST(YamlGuard, CheckRefusesAFileTheParserCannotFinish) {
  const auto path = write(",");
  auto r = run({"check", "--config", path});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_LT(r.seconds, 8.0) << r.output;
  EXPECT_NE(r.output.find(path + kParserGaveUp), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("a lone ','"), std::string::npos) << r.output;
  std::cout << "[ guard    ] check on \",\": " << r.seconds << " s: " << r.output;
}

TEST(YamlGuard, CheckStillGivesTheParsersOwnMessageForOrdinarySyntaxErrors) {
  const auto path = write("entryPoints:\n  web: {address: \"127.0.0.1:0\"\n");
  auto r = run({"check", "--config", path});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(path + ":"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("invalid YAML"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("could not read this file"), std::string::npos) << r.output;
}

TEST(YamlGuard, ServeRefusesToStartOnIt) {
  const auto path = write(",,\n");
  auto r = run({"serve", "--config", path});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_LT(r.seconds, 8.0) << r.output;
  EXPECT_NE(r.output.find(path + kParserGaveUp), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("refusing to start"), std::string::npos) << r.output;
}

TEST(YamlGuard, ARunningGatewayRefusesSuchAFileOnReloadAndKeepsServing) {
  mt::SimProcess sim("vm02", {"--models", kModel});
  mt::GatewayProcess gw(valid_config(sim.port(), 1));
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()), 5s);
  mt::HttpClient client("127.0.0.1", gw.port(), 5s);
  ASSERT_EQ(client.post_json("/v1/chat/completions", chat()).status, 200);
  const auto before = status(admin);

  // Rewritten in place to ",": seen by the file watch, refused, reported with the file's name.
  // (The watch may first see the truncated, empty file: refused too, for another reason.)
  const auto written = Clock::now();
  gw.write_config(",");
  Status st;
  const bool refused = mt::wait_until(
      [&] {
        st = status(admin);
        return st.has_reload && !st.reload_ok && !st.errors.empty() &&
               st.errors.front().find("could not read this file") != std::string::npos;
      },
      12s, 50ms);
  ASSERT_TRUE(refused) << "the reload of \",\" was not reported as refused\n" << gw.process().output();
  std::cout << "[ guard    ] reload of \",\" refused after " << seconds_since(written) << " s\n";
  ASSERT_FALSE(st.errors.empty());
  EXPECT_NE(st.errors.front().find(gw.config_path() + kParserGaveUp), std::string::npos) << st.errors.front();
  EXPECT_EQ(st.generation, before.generation) << "a refused file changed the generation";
  EXPECT_TRUE(gw.process().wait_for_line(std::regex("config reload \\(file changed.*\\) rejected"), 2s))
      << gw.process().output();

  // The old config keeps serving; SIGHUP on the same file is refused again, and the gateway stays.
  for (int i = 0; i < 5; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat());
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Served-By"), "vm02");
  }
  gw.process().signal(SIGHUP);
  EXPECT_TRUE(gw.process().wait_for_line(std::regex("config reload \\(SIGHUP\\) rejected"), 12s))
      << gw.process().output();
  EXPECT_TRUE(gw.process().running());
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat()).status, 200);
  EXPECT_EQ(status(admin).generation, before.generation);

  // A valid file again: applied.
  gw.write_config(valid_config(sim.port(), 2));
  const bool applied = mt::wait_until(
      [&] {
        st = status(admin);
        return st.reload_ok && st.generation > before.generation;
      },
      5s, 20ms);
  ASSERT_TRUE(applied) << "the valid config after \",\" was not applied\n" << gw.process().output();
  EXPECT_NE(admin.get("/api/routers").body.find("/marker/2"), std::string::npos);
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat()).status, 200);
}

// The guard in-process (as serve and check use it), with the real binary as its child.
TEST(YamlGuard, TheTimeLimitStopsTheChild) {
  const auto path = write(",");
  mg::config::ParseGuard guard{MODELGATE_BIN, 300ms, std::size_t{4} << 30};  // time runs out first
  const auto start = Clock::now();
  auto r = mg::config::load_file(path, guard);
  const double took = seconds_since(start);
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_NE(r.diagnostics[0].str().find("did not finish within 0.3 s"), std::string::npos)
      << r.diagnostics[0].str();
  EXPECT_LT(took, 3.0);
}

TEST(YamlGuard, AValidFilePassesTheGuardUnchanged) {
  const auto path = write(
      "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nhttp:\n  routers:\n    r: {rule: \"Path(`/`)\", "
      "service: s}\n  services:\n    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:9\"}]}}\n");
  auto r = mg::config::load_file(path, mg::config::ParseGuard{MODELGATE_BIN});
  EXPECT_TRUE(r.config);
  EXPECT_TRUE(r.diagnostics.empty()) << r.diagnostics.front().str();
}

TEST(YamlGuard, WithoutAChildTheFileStillLoadsWithAWarning) {
  const auto path = write(
      "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nhttp:\n  routers:\n    r: {rule: \"Path(`/`)\", "
      "service: s}\n  services:\n    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:9\"}]}}\n");
  auto r = mg::config::load_file(path, mg::config::ParseGuard{"/nonexistent/modelgate"});
  EXPECT_TRUE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].severity, mg::config::Severity::warning);
  EXPECT_NE(r.diagnostics[0].str().find("/nonexistent/modelgate"), std::string::npos) << r.diagnostics[0].str();
}
