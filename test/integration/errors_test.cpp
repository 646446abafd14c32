// Every error the gateway answers itself: OpenAI-shaped JSON with the right status, never an HTML
// page or a bare reset; and the framing attacks a proxy must refuse.
#include <gtest/gtest.h>

#include <regex>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";

std::string chat(std::string_view model) {
  return "{\"model\":\"" + std::string(model) +
         "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
}

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

void expect_openai_error(const mt::Response& r, int status, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body << r.error;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_NE(r.body.find("{\"error\":{\"message\":"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"code\":\"" + std::string(code) + "\""), std::string::npos) << r.body;
}

class GatewayErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<mt::SimProcess>(
        "vm02", std::vector<std::string>{"--models", std::string(kQwen) + ",glm4-9b-chat"});
    dead_port_ = mt::free_port();  // nothing listens there: connections are refused
    gw_ = std::make_unique<mt::GatewayProcess>(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
    limits: {maxBodyBytes: 4096, maxHeaderBytes: 2048, maxHeaders: 20}
http:
  routers:
    models:
      rule: "PathPrefix(`/v1`) && Model(`Qwen2.5-0.5B-Instruct`, `glm4-9b-chat`)"
      service: live
    down:
      rule: "Header(`X-Route`, `down`)"
      service: dead
      priority: 1000
    mixed:
      rule: "Header(`X-Route`, `mixed`)"
      service: half-dead
      priority: 1000
    slow:
      rule: "Header(`X-Route`, `slow`)"
      service: slow
      priority: 1000
    stream:
      rule: "Header(`X-Route`, `stream`)"
      service: live
      priority: 1000
  services:
    live:
      loadBalancer: {servers: [{url: )y" + url(sim_->port()) + R"y(}]}
    dead:
      loadBalancer: {servers: [{url: )y" + url(dead_port_) + R"y(}]}
    half-dead:
      loadBalancer: {servers: [{url: )y" + url(dead_port_) + R"y(}, {url: )y" + url(sim_->port()) + R"y(}]}
    slow:
      loadBalancer:
        servers: [{url: )y" + url(sim_->port()) + R"y(}]
        timeouts: {responseHeader: 300ms}
)y");
  }
  std::unique_ptr<mt::SimProcess> sim_;
  std::uint16_t dead_port_ = 0;
  std::unique_ptr<mt::GatewayProcess> gw_;
};

}  // namespace

TEST_F(GatewayErrors, UnknownModelIs404ListingTheAvailableModels) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  auto r = c.post_json("/v1/chat/completions", chat("gpt-5"));
  expect_openai_error(r, 404, "model_not_found");
  EXPECT_NE(r.body.find("gpt-5"), std::string::npos);
  EXPECT_NE(r.body.find(kQwen), std::string::npos) << "the available models are listed";
  EXPECT_NE(r.body.find("glm4-9b-chat"), std::string::npos);
  // The connection stays usable after an error the client caused.
  EXPECT_EQ(c.post_json("/v1/chat/completions", chat(kQwen)).status, 200);
}

TEST_F(GatewayErrors, NoMatchingRouteIs404) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  expect_openai_error(c.get("/nothing/here"), 404, "route_not_found");
}

TEST_F(GatewayErrors, BodyThatIsNotJsonOrHasNoModelIs400) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  expect_openai_error(c.post_json("/v1/chat/completions", "this is not json"), 400, "invalid_json");
  expect_openai_error(c.post_json("/v1/chat/completions", "{\"messages\":[]}"), 400, "missing_model");
  expect_openai_error(c.post_json("/v1/chat/completions", "{\"model\":42}"), 400, "missing_model");
}

TEST_F(GatewayErrors, BodyOverTheLimitIs413) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  std::string big =
      "{\"model\":\"" + std::string(kQwen) + "\",\"prompt\":\"" + std::string(5000, 'x') + "\"}";
  expect_openai_error(c.post_json("/v1/completions", big), 413, "request_too_large");
}

TEST_F(GatewayErrors, OversizedOrTooManyHeadersAre431) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  expect_openai_error(c.get("/v1/models", {{"X-Big", std::string(4000, 'a')}}), 431,
                      "request_header_fields_too_large");
  mt::Headers many;
  for (int i = 0; i < 30; ++i) many.emplace_back("X-H" + std::to_string(i), "v");
  mt::HttpClient c2("127.0.0.1", gw_->port());
  expect_openai_error(c2.get("/v1/models", many), 431, "request_header_fields_too_large");
}

TEST_F(GatewayErrors, EveryServerDownIs502) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  auto r = c.get("/health", {{"X-Route", "down"}});
  expect_openai_error(r, 502, "upstream_unavailable");
  EXPECT_NE(r.body.find("dead"), std::string::npos) << "names the service";
}

TEST_F(GatewayErrors, ARefusingServerIsSkipped) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  for (int i = 0; i < 10; ++i) {
    auto r = c.get("/health", {{"X-Route", "mixed"}});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Served-By"), "vm02");
  }
}

TEST_F(GatewayErrors, SlowServerIs504) {
  mt::HttpClient c("127.0.0.1", gw_->port());
  auto r = c.post_json("/v1/chat/completions", chat(kQwen), {{"X-Route", "slow"}, {"X-Sim-Ttft-Ms", "2000"}});
  expect_openai_error(r, 504, "upstream_timeout");
}

TEST_F(GatewayErrors, ChunkedRequestBodyStreamsThrough) {
  std::string body = chat(kQwen);
  std::string raw =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
  std::size_t half = body.size() / 2;
  char line[32];
  std::snprintf(line, sizeof line, "%zx\r\n", half);
  raw += line + body.substr(0, half) + "\r\n";
  std::snprintf(line, sizeof line, "%zx\r\n", body.size() - half);
  raw += line + body.substr(half) + "\r\n0\r\n\r\n";
  auto out = mt::raw_exchange(gw_->port(), raw);
  EXPECT_EQ(out.rfind("HTTP/1.1 200", 0), 0u) << out;
  EXPECT_NE(out.find("chat.completion"), std::string::npos) << out;
}

TEST_F(GatewayErrors, ExpectContinueIsAnsweredByTheGateway) {
  std::string body = chat(kQwen);
  std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  // Only the head: the gateway must say 100 Continue before the client sends the body.
  auto first = mt::raw_exchange(gw_->port(), head, 1500ms);
  EXPECT_EQ(first.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << first;
  auto full = mt::raw_exchange(gw_->port(), head + body);
  EXPECT_NE(full.find("HTTP/1.1 200"), std::string::npos) << full;
}

// Request smuggling: any ambiguity in framing is refused with 400 and the connection closed, and
// nothing reaches a server.
class Smuggling : public GatewayErrors, public ::testing::WithParamInterface<std::string> {};

TEST_P(Smuggling, AmbiguousFramingIsRejected) {
  const std::string raw = GetParam();
  auto out = mt::raw_exchange(gw_->port(), raw);
  EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << out;
  // Exactly one response: the part a lenient parser would take as a second request is not run.
  const std::regex status_line(R"(HTTP/1\.1 \d{3} )");
  EXPECT_EQ(std::distance(std::sregex_iterator(out.begin(), out.end(), status_line), std::sregex_iterator()), 1)
      << out;
  EXPECT_EQ(out.find("X-Served-By"), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(
    Vectors, Smuggling,
    ::testing::Values(
        // CL.TE
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nContent-Length: 6\r\nTransfer-Encoding: "
        "chunked\r\n\r\n"
        "0\r\n\r\nGET /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\n\r\n",
        // TE.CL, with the TE first
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nTransfer-Encoding: "
        "chunked\r\nContent-Length: 3\r\n\r\n"
        "8\r\nSMUGGLED\r\n0\r\n\r\n",
        // duplicate, differing Content-Length
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nContent-Length: 4\r\nContent-Length: "
        "40\r\n\r\nabcd",
        // invalid Content-Length
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nContent-Length: 4x\r\n\r\nabcd",
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nContent-Length: -1\r\n\r\nabcd",
        // obfuscated Transfer-Encoding
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nTransfer-Encoding: "
        "xchunked\r\n\r\n0\r\n\r\n",
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nTransfer-Encoding: chunked, "
        "identity\r\n\r\n0\r\n\r\n",
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nTransfer-Encoding : "
        "chunked\r\n\r\n0\r\n\r\n",
        "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nTransfer-Encoding: "
        "chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        // no Host in HTTP/1.1
        "GET /v1/models HTTP/1.1\r\nX-Route: stream\r\n\r\n",
        // a bare LF ends a line for some parsers, not for others
        "POST /v1/models HTTP/1.1\r\nHost: x\nX-Route: stream\r\nContent-Length: 0\r\n\r\n",
        // obs-fold: a continuation line joins the previous field for some parsers
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n"));

TEST_F(GatewayErrors, OtherTransferCodingsThanChunkedAre501) {
  // The gateway re-frames the body for the next hop, so a coding it does not undo would be lost.
  const std::string raw =
      "POST /v1/models HTTP/1.1\r\nHost: x\r\nX-Route: stream\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
      "0\r\n\r\n";
  auto out = mt::raw_exchange(gw_->port(), raw);
  EXPECT_EQ(out.rfind("HTTP/1.1 501", 0), 0u) << out;
  EXPECT_NE(out.find("chunked"), std::string::npos) << out;
  EXPECT_EQ(out.find("X-Served-By"), std::string::npos) << out;
}

// A malformed chunk is the client's error: 400, never reported as the server's (502), whether the
// body was being streamed to the server or read whole to find the model.
TEST_F(GatewayErrors, MalformedRequestChunkIs400) {
  const std::string head =
      "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n";
  const std::string bad_chunks = "5\r\n{\"mod\r\nzz\r\nel\":1}\r\n0\r\n\r\n";
  for (const std::string route : {"X-Route: stream\r\n", ""}) {
    auto out = mt::raw_exchange(gw_->port(), head + route + "\r\n" + bad_chunks);
    EXPECT_EQ(out.rfind("HTTP/1.1 400", 0), 0u) << route << out;
    EXPECT_NE(out.find("\"code\":\"bad_request\""), std::string::npos) << out;
    EXPECT_NE(out.find("chunked"), std::string::npos) << out;
    EXPECT_EQ(out.find("upstream_error"), std::string::npos) << out;
  }
}

// RFC 9110 §10.1.1: no 100 Continue to an HTTP/1.0 client, even when it sends Expect.
TEST_F(GatewayErrors, NoContinueToAnHttp10Client) {
  std::string body = chat(kQwen);
  std::string head =
      "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
      "Expect: 100-continue\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  EXPECT_EQ(mt::raw_exchange(gw_->port(), head, 1500ms), "") << "the gateway waits for the body";
  auto full = mt::raw_exchange(gw_->port(), head + body);
  EXPECT_EQ(full.rfind("HTTP/1.1 200", 0), 0u) << full;
  EXPECT_EQ(full.find("100 Continue"), std::string::npos) << full;
}

// An HTTP/1.0 client that asked for keep-alive is told the connection stays open, on the gateway's
// own answers as on relayed ones (RFC 9112 §9.3); without the header it waits for a close.
TEST_F(GatewayErrors, Http10KeepAliveIsConfirmedOnTheGatewaysOwnAnswers) {
  const std::string unknown_model = chat("gpt-5");
  const std::string requests[] = {
      "GET /nothing/here HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "POST /v1/chat/completions HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n"
      "Content-Length: " + std::to_string(unknown_model.size()) + "\r\n\r\n" + unknown_model,
      "GET /v1/models HTTP/1.0\r\nConnection: keep-alive\r\nX-Route: stream\r\n\r\n",
  };
  for (const auto& request : requests) {
    // Twice on one connection: both answered, each saying keep-alive.
    auto out = mt::raw_exchange(gw_->port(), request + request, 1500ms);
    const std::regex keep_alive("\r\nConnection: keep-alive\r\n", std::regex::icase);
    EXPECT_EQ(std::distance(std::sregex_iterator(out.begin(), out.end(), keep_alive), std::sregex_iterator()), 2)
        << out;
  }
  // Without keep-alive, an HTTP/1.0 connection closes after the answer.
  auto once = mt::raw_exchange(gw_->port(), "GET /nothing/here HTTP/1.0\r\n\r\n", 3000ms);
  EXPECT_EQ(once.rfind("HTTP/1.1 404", 0), 0u) << once;
  EXPECT_NE(once.find("Connection: close\r\n"), std::string::npos) << once;
}
