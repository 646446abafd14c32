// `modelgate check` and `serve` on good and bad files: exit codes and positioned messages.
#include <gtest/gtest.h>

#include <fstream>

#include "support/gateway_process.h"
#include "support/process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

std::string write(const std::string& yaml) {
  auto path = mt::temp_dir() + "/config.yaml";
  std::ofstream(path) << yaml;
  return path;
}

struct Run {
  int code;
  std::string output;
};

Run run(std::vector<std::string> args) {
  mt::Process p(MODELGATE_BIN, std::move(args));
  auto code = p.wait(10s);
  p.wait_for_line(std::regex("(?!)"), 2s);  // never matches: returns once the output has ended
  return {code.value_or(-1), p.output()};
}

}  // namespace

TEST(CheckCommand, ValidFileExitsZero) {
  auto path = write(
      "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nhttp:\n  routers:\n    r: {rule: \"Model(`m`)\", "
      "service: s}\n"
      "  services:\n    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:9\"}]}}\n");
  auto r = run({"check", "--config", path});
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("OK"), std::string::npos) << r.output;
}

TEST(CheckCommand, EveryProblemWithItsPlaceAndExitTwo) {
  auto path = write(
      "entryPoints:\n"
      "  web: {address: \"127.0.0.1:0\"}\n"
      "http:\n"
      "  routers:\n"
      "    r:\n"
      "      rule: \"Hots(`a`)\"\n"
      "      service: s\n"
      "  services:\n"
      "    s:\n"
      "      loadBalancer:\n"
      "        sever: []\n");
  auto r = run({"check", "--config", path});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(path + ":6:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean \"Host\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(path + ":11:9:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("did you mean \"servers\""), std::string::npos) << r.output;
}

TEST(CheckCommand, ServeRefusesAnInvalidFile) {
  auto path = write(
      "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nhttp:\n  routers:\n    r: {rule: \"Path(`/`)\", "
      "service: nope}\n");
  auto r = run({"serve", "--config", path});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(path + ":5:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("refusing to start"), std::string::npos) << r.output;
}

TEST(CheckCommand, MissingFileSaysSo) {
  auto r = run({"check", "--config", "/nonexistent/modelgate.yaml"});
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("/nonexistent/modelgate.yaml"), std::string::npos) << r.output;
}
