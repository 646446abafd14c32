// Zero-downtime binary upgrade (SIGUSR2): a new process started from the binary's path takes the
// listening sockets over while ab keeps opening connections and an SSE stream runs on the old
// process; afterwards ab has no failed request, the stream finished, the old process exited 0 and
// the service manager (a NOTIFY_SOCKET the test binds) was told the new MAINPID. A new binary
// that cannot start (invalid configuration, a program that exits 1) leaves the old one serving;
// a second SIGUSR2 while a new process is starting is refused. `make install` over the running
// binary followed by SIGUSR2 runs the newly installed file.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <fstream>
#include <regex>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/notify_socket.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* kModel = "Qwen2.5-0.5B-Instruct";

// The process a successful upgrade started: not a child of the test, so killed here at the end.
struct Successor {
  pid_t pid = -1;
  ~Successor() {
    if (pid > 0) ::kill(pid, SIGKILL);
  }
};

std::string config_over(const mt::SimProcess& sim) {
  return mt::pool_config({sim.port()}) + "admin: {address: \"127.0.0.1:0\"}\nshutdown: {drainTimeout: 20s}\n";
}

std::string write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
  return path;
}

std::uint16_t entry_point_port(mt::Process& gateway) {
  auto line = gateway.wait_for_line(std::regex(R"(entry point web listening on \S+:(\d+))"), 1ms);
  return line ? static_cast<std::uint16_t>(std::stoi((*line)[1])) : 0;
}

long report_value(const std::string& report, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(report, m, std::regex(label + R"(:\s+(\d+))"))) return -1;
  return std::stol(m[1]);
}

// `modelgate serve` over `sim`, reporting to `notify`.
std::unique_ptr<mt::Process> serve_over(const mt::SimProcess& sim, mt::NotifySocket& notify, const char* workers) {
  const auto config = write_file(mt::temp_dir() + "/gw.yaml", config_over(sim));
  return std::make_unique<mt::Process>(MODELGATE_BIN,
                                       std::vector<std::string>{"serve", "--config", config, "--workers", workers},
                                       std::vector<std::string>{notify.env()});
}

// curl streaming a 30-token completion from the gateway at `url` (3 s with the sim's --tpot-ms 100).
std::unique_ptr<mt::Process> stream_from(const std::string& url) {
  return std::make_unique<mt::Process>(
      "/usr/bin/curl",
      std::vector<std::string>{"-sS", "-N", "--fail", "--max-time", "30", "-H", "Content-Type: application/json", "-d",
                               std::string("{\"model\":\"") + kModel + "\",\"stream\":true,\"max_tokens\":30," +
                                   "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
                               url + "/v1/chat/completions"});
}

bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content;
  std::getline(stat, content);
  const auto close = content.rfind(')');
  return close != std::string::npos && close + 2 < content.size() && content[close + 2] != 'Z';
}

TEST(BinaryUpgrade, UnderLoadLosesNoRequestAndNoStream) {
  mt::SimProcess sim("up1", {"--tpot-ms", "100"});
  mt::NotifySocket notify;
  auto gw_process = serve_over(sim, notify, "2");
  mt::Process& gw = *gw_process;
  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << gw.output();
  const auto port = entry_point_port(gw);
  const auto url = "http://127.0.0.1:" + std::to_string(port);

  // A 3-second stream on the old process, and ab opening a new connection per request.
  auto stream_process = stream_from(url);
  mt::Process& stream = *stream_process;
  ASSERT_TRUE(stream.wait_for_line(std::regex("^data: \\{"), 10s)) << stream.output() << gw.output();
  mt::Process ab("/usr/bin/ab", {"-n", "6000", "-c", "8", "-s", "20", url + "/v1/models"});
  ASSERT_TRUE(ab.wait_for_line(std::regex("Completed 600 requests"), 20s)) << ab.output();

  gw.signal(SIGUSR2);
  Successor successor;
  auto handed = notify.wait_for("MAINPID=", 20s);
  ASSERT_TRUE(handed) << gw.output() << notify.dump();
  successor.pid = std::stoi(notify.value(*handed, "MAINPID"));
  EXPECT_TRUE(ab.running()) << "ab ended before the handover: the load did not overlap it\n" << ab.output();
  EXPECT_NE(successor.pid, gw.pid());
  EXPECT_TRUE(alive(successor.pid));

  EXPECT_EQ(ab.wait(60s), 0) << ab.output();
  EXPECT_EQ(report_value(ab.output(), "Complete requests"), 6000) << ab.output();
  EXPECT_EQ(report_value(ab.output(), "Failed requests"), 0) << ab.output();
  EXPECT_EQ(ab.output().find("Non-2xx"), std::string::npos) << ab.output();
  EXPECT_EQ(stream.wait(30s), 0) << stream.output();
  EXPECT_NE(stream.output().find("data: [DONE]"), std::string::npos) << stream.output();
  // The old process drained its stream and left; the new one answers on the same port.
  EXPECT_EQ(gw.wait(30s), 0) << gw.output();
  EXPECT_NE(gw.output().find("handed over to process " + std::to_string(successor.pid)), std::string::npos)
      << gw.output();
  mt::HttpClient client("127.0.0.1", port);
  EXPECT_EQ(client.get("/v1/models").status, 200);
  // The admin API's socket was handed over too: the new process could not have bound it while
  // the old one held it.
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw));
  EXPECT_EQ(admin.get("/api/status").status, 200) << gw.output();
  EXPECT_EQ(gw.output().find("admin API not available"), std::string::npos) << gw.output();
  EXPECT_EQ(notify.wait_for("STOPPING=1", 1ms), std::nullopt) << "the old process must not stop the service\n"
                                                              << notify.dump();
  ::kill(successor.pid, SIGTERM);
  EXPECT_TRUE(mt::wait_until([&] { return !alive(successor.pid); }, 15s));
}

// keepalived asks GET /ready on the admin socket, which both processes hold while the old one
// drains: the old one leaves it to the new one, so the check never sees its draining 503 and
// moves the address of an HA pair for nothing.
TEST(BinaryUpgrade, ReadyStays200WhileTheOldProcessDrains) {
  mt::SimProcess sim("up4", {"--tpot-ms", "100"});
  mt::NotifySocket notify;
  auto gw_process = serve_over(sim, notify, "1");
  mt::Process& gw = *gw_process;
  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << gw.output();
  const auto url = "http://127.0.0.1:" + std::to_string(entry_point_port(gw));
  const auto admin_port = mt::admin_port(gw);
  // A 3-second stream keeps the old process draining after the handover.
  auto stream_process = stream_from(url);
  mt::Process& stream = *stream_process;
  ASSERT_TRUE(stream.wait_for_line(std::regex("^data: \\{"), 10s)) << stream.output() << gw.output();

  gw.signal(SIGUSR2);
  Successor successor;
  auto handed = notify.wait_for("MAINPID=", 20s);
  ASSERT_TRUE(handed) << gw.output() << notify.dump();
  successor.pid = std::stoi(notify.value(*handed, "MAINPID"));
  ASSERT_TRUE(gw.wait_for_line(std::regex("stops accepting and drains"), 5s)) << gw.output();

  int not_ready = 0;
  std::string last;
  for (int i = 0; i < 40; ++i) {
    mt::HttpClient check("127.0.0.1", admin_port, 2s);  // a new connection each, as curl makes
    auto r = check.get("/ready");
    if (r.status != 200) {
      ++not_ready;
      last = std::to_string(r.status) + " " + r.body + r.error;
    }
  }
  EXPECT_TRUE(gw.running()) << "the old process ended before the checks: they did not overlap its drain";
  EXPECT_EQ(not_ready, 0) << "of 40 checks during the drain; the last: " << last;

  EXPECT_EQ(stream.wait(30s), 0) << stream.output();
  EXPECT_EQ(gw.wait(30s), 0) << gw.output();
  ::kill(successor.pid, SIGTERM);
  EXPECT_TRUE(mt::wait_until([&] { return !alive(successor.pid); }, 15s));
}

// The binary at `path` becomes `content` (a script), replaced the way a package manager does it.
void replace_binary(const std::string& path, const std::string& content) {
  const auto next = path + ".next";
  write_file(next, content);
  fs::permissions(next, fs::perms::owner_all);
  fs::rename(next, path);
}

// The gateway's own binary at a path of its own, hard-linked (or copied) from the build.
void place_binary(const std::string& path) {
  const auto next = path + ".next";
  std::error_code ec;
  fs::remove(next, ec);
  fs::create_hard_link(MODELGATE_BIN, next, ec);
  if (ec) fs::copy_file(MODELGATE_BIN, next);
  fs::rename(next, path);
}

TEST(BinaryUpgrade, ANewBinaryThatCannotStartLeavesTheOldServing) {
  mt::SimProcess sim("up2");
  mt::NotifySocket notify;
  const auto dir = mt::temp_dir();
  const auto binary = dir + "/modelgate";
  place_binary(binary);
  const auto good = config_over(sim);
  const auto config = write_file(dir + "/gw.yaml", good);
  mt::Process gw(binary, {"serve", "--config", config, "--workers", "2"}, {notify.env()});
  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << gw.output();
  const auto port = entry_point_port(gw);
  mt::HttpClient client("127.0.0.1", port);
  const std::regex failed("binary upgrade failed: .*this process keeps serving");

  // 1. The configuration made invalid first: the new process exits 2.
  write_file(config, "entryPoints: [\n");
  gw.signal(SIGUSR2);
  auto line = gw.wait_for_next_line(failed, 20s);
  ASSERT_TRUE(line) << gw.output();
  EXPECT_NE(line->line.find("exit code 2"), std::string::npos) << line->line;
  EXPECT_EQ(client.get("/v1/models").status, 200);

  // 2. The file at the binary's path is a program that exits 1.
  write_file(config, good);
  replace_binary(binary, "#!/bin/sh\nexit 1\n");
  gw.signal(SIGUSR2);
  line = gw.wait_for_next_line(failed, 20s);
  ASSERT_TRUE(line) << gw.output();
  EXPECT_NE(line->line.find("exit code 1"), std::string::npos) << line->line;
  EXPECT_EQ(client.get("/v1/models").status, 200);
  EXPECT_TRUE(gw.running());
  EXPECT_EQ(notify.wait_for("MAINPID=", 1ms), std::nullopt) << notify.dump();

  // 3. A slow but good new binary: a second SIGUSR2 meanwhile is refused, then it takes over.
  const auto real = dir + "/modelgate-real";
  place_binary(real);
  replace_binary(binary, "#!/bin/sh\nsleep 1\nexec " + real + " \"$@\"\n");
  gw.signal(SIGUSR2);
  ASSERT_TRUE(gw.wait_for_next_line(std::regex("binary upgrade: started"), 10s)) << gw.output();
  gw.signal(SIGUSR2);
  EXPECT_TRUE(gw.wait_for_next_line(std::regex("still starting; this signal is ignored"), 10s))
      << gw.output();
  Successor successor;
  auto handed = notify.wait_for("MAINPID=", 20s);
  ASSERT_TRUE(handed) << gw.output();
  successor.pid = std::stoi(notify.value(*handed, "MAINPID"));
  EXPECT_EQ(gw.wait(30s), 0) << gw.output();
  const auto after = client.get("/v1/models");
  EXPECT_EQ(after.status, 200) << after.error << "\n" << gw.output();
  std::size_t handovers = 0;
  for (const auto& m : notify.messages()) handovers += m.find("MAINPID=") != std::string::npos;
  EXPECT_EQ(handovers, 1u) << notify.dump();
}

// The documented upgrade: cmake --install (what `make install` runs) over the file a gateway runs
// from, then SIGUSR2; the process that takes over runs the new file, the old one the replaced one.
TEST(BinaryUpgrade, InstallOverTheRunningBinaryThenSigusr2RunsTheNewFile) {
  mt::SimProcess sim("up3");
  mt::NotifySocket notify;
  const auto dest = mt::temp_dir();
  auto install = [&] {
    mt::Process p(MODELGATE_CMAKE, {"--install", MODELGATE_BUILD_DIR, "--prefix", "/usr"},
                  {"DESTDIR=" + dest});
    return p.wait(60s) == 0;
  };
  ASSERT_TRUE(install());
  const auto binary = dest + "/usr/bin/modelgate";
  const auto config = write_file(mt::temp_dir() + "/gw.yaml", config_over(sim));
  mt::Process gw(binary, {"serve", "--config", config, "--workers", "1"}, {notify.env()});
  ASSERT_TRUE(notify.wait_for("READY=1", 10s)) << gw.output();

  // An older file, so that the install copies the build's binary over it again.
  fs::last_write_time(binary, fs::last_write_time(binary) - std::chrono::hours(1));
  ASSERT_TRUE(install());
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(gw.pid()) + "/exe").string(), binary + " (deleted)");
  gw.signal(SIGUSR2);
  Successor successor;
  auto handed = notify.wait_for("MAINPID=", 20s);
  ASSERT_TRUE(handed) << gw.output();
  successor.pid = std::stoi(notify.value(*handed, "MAINPID"));
  EXPECT_EQ(fs::read_symlink("/proc/" + std::to_string(successor.pid) + "/exe").string(), binary);
  EXPECT_EQ(gw.wait(30s), 0) << gw.output();
  mt::HttpClient client("127.0.0.1", entry_point_port(gw));
  EXPECT_EQ(client.get("/v1/models").status, 200);
}

}  // namespace
