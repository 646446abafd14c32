// ApacheBench (Debian apache2-utils), as the nginx benchmarking articles run it: HTTP/1.0, with
// and without -k (Connection: keep-alive). ab keeps a connection only when the answer says
// "Connection: keep-alive"; otherwise it reads until the server closes, so an answer that keeps the
// connection open without saying so stalls it until its timeout. Run against answers relayed from
// a model server and against the gateway's own answers (an unknown model, no route, /ping).
#include <gtest/gtest.h>

#include <fstream>
#include <regex>

#include "support/gateway_process.h"
#include "support/process.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kAb = "/usr/bin/ab";
constexpr int kRequests = 40;

std::string chat(std::string_view model) {
  return "{\"model\":\"" + std::string(model) +
         "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
}

// A number from ab's report ("Complete requests:      40"); -1 when the line is missing.
long report_value(const std::string& report, const std::string& label) {
  std::smatch m;
  if (!std::regex_search(report, m, std::regex(label + R"(:\s+(\d+))"))) return -1;
  return std::stol(m[1]);
}

struct Workload {
  std::string name;
  std::string path;
  std::string model;  // "": a GET; else a POST of a chat request naming this model
  bool relayed;       // answered by the model server, not by the gateway itself
};

void PrintTo(const Workload& w, std::ostream* os) { *os << w.name; }

class ApacheBench : public ::testing::TestWithParam<std::tuple<Workload, bool>> {
 protected:
  static void SetUpTestSuite() {
    sim_ = new mt::SimProcess("vm02", {"--models", "Qwen2.5-0.5B-Instruct"});
    gw_ = new mt::GatewayProcess(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
ping: {}
http:
  routers:
    models:
      rule: "PathPrefix(`/v1`) && Model(`Qwen2.5-0.5B-Instruct`)"
      service: live
  services:
    live:
      loadBalancer: {servers: [{url: "http://127.0.0.1:)y" + std::to_string(sim_->port()) + R"y("}]}
)y");
  }
  static void TearDownTestSuite() {
    delete gw_;
    delete sim_;
  }
  static mt::SimProcess* sim_;
  static mt::GatewayProcess* gw_;
};

mt::SimProcess* ApacheBench::sim_ = nullptr;
mt::GatewayProcess* ApacheBench::gw_ = nullptr;

}  // namespace

TEST_P(ApacheBench, EveryRequestCompletesWithoutStalling) {
  const auto& [load, keep_alive] = GetParam();
  ASSERT_TRUE(std::ifstream(kAb).good()) << kAb << " is missing: apt-get install apache2-utils";
  // -s 5: a stalled connection fails the run after 5 s instead of ab's default 30 s.
  std::vector<std::string> args = {"-n", std::to_string(kRequests), "-c", "4", "-s", "5"};
  if (keep_alive) args.push_back("-k");
  if (!load.model.empty()) {
    const std::string body_path = mt::temp_dir() + "/" + load.name + ".json";
    std::ofstream(body_path) << chat(load.model);
    args.insert(args.end(), {"-p", body_path, "-T", "application/json"});
  }
  args.push_back("http://127.0.0.1:" + std::to_string(gw_->port()) + load.path);
  mt::Process ab(kAb, args);
  const auto status = ab.wait(20s);
  const std::string report = ab.output();
  ASSERT_TRUE(status.has_value()) << "ab still running after 20 s:\n" << report;
  EXPECT_EQ(*status, 0) << report;
  EXPECT_EQ(report_value(report, "Complete requests"), kRequests) << report;
  // ab prints the line only with -k.
  EXPECT_EQ(report_value(report, "Keep-Alive requests"), keep_alive ? kRequests : -1) << report;
  // The gateway's own answers are the same every time: ab's length check must pass. ab prints
  // "Non-2xx responses" only when there are some.
  if (!load.relayed) EXPECT_EQ(report_value(report, "Failed requests"), 0) << report;
  EXPECT_EQ(report_value(report, "Non-2xx responses"), load.name == "ping" || load.relayed ? -1 : kRequests)
      << report;
}

INSTANTIATE_TEST_SUITE_P(
    Answers, ApacheBench,
    ::testing::Combine(::testing::Values(Workload{"relayed", "/v1/chat/completions", "Qwen2.5-0.5B-Instruct", true},
                                         Workload{"unknown_model", "/v1/chat/completions", "gpt-5", false},
                                         Workload{"no_route", "/nothing/here", "", false},
                                         Workload{"ping", "/ping", "", false}),
                       ::testing::Bool()),
    [](const auto& info) {
      return std::get<0>(info.param).name + (std::get<1>(info.param) ? "_keepalive" : "_close");
    });
