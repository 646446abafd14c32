// `modelgate demo` as a new user meets it: it prints the dashboard URL and a curl of /v1/models,
// and the gateway answers that curl with the demo's models (its config has Model() rules and no
// discovery). The demo listens on fixed ports (8080, 8001, 8002, 9090): the test is skipped when
// one of them is taken.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <regex>
#include <string>

#include "support/http_client.h"
#include "support/json.h"
#include "support/process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

bool port_free(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

TEST(Demo, PrintsTheDashboardAndAnswersTheModelList) {
  for (std::uint16_t port : {8080, 8001, 8002, 9090}) {
    if (!port_free(port)) GTEST_SKIP() << "127.0.0.1:" << port << " is in use; the demo needs it";
  }
  mt::Process demo(MODELGATE_BIN, {"demo", "--workers", "1"});
  ASSERT_TRUE(demo.wait_for_line(std::regex("modelgate: ready"), 10s)) << demo.output();
  const std::string out = demo.output();
  EXPECT_NE(out.find("Dashboard: http://127.0.0.1:9090/dashboard/"), std::string::npos) << out;
  EXPECT_NE(out.find("curl -s http://127.0.0.1:8080/v1/models"), std::string::npos) << out;

  mt::HttpClient client("127.0.0.1", 8080);
  auto r = client.get("/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  mt::Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  auto data = simdjson::dom::array(j.root["data"]);
  ASSERT_EQ(data.size(), 2u) << r.body;
  EXPECT_EQ(mt::str(data.at(0), "id"), "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(mt::num(data.at(0), "servers"), 2) << r.body;
  EXPECT_EQ(mt::str(data.at(1), "id"), "glm4-9b-chat");

  mt::HttpClient admin("127.0.0.1", 9090);
  auto page = admin.get("/dashboard/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("Content-Type").rfind("text/html", 0), 0u) << page.header("Content-Type");
}
