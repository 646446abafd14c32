// Clients that send their request slowly, stop half-way, or are refused before they finished
// sending: a slow but steady upload is served (timeouts.readBody runs between two reads, not
// timeouts.readHeader over the whole request); a stalled one gets 408 in the OpenAI shape and an
// access-log line; an early 400/413/431 reaches the client and is followed by a clean close, not a
// reset (lingering close), while the client is still sending.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";

// A chat request of about 1.4 KB, as in a real slow upload.
std::string chat_body() {
  return "{\"model\":\"" + std::string(kQwen) + "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"" +
         std::string(1300, 'w') + "\"}]}";
}

std::string length_head(std::size_t size, std::string_view extra = "") {
  return "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n" +
         std::string(extra) + "Content-Length: " + std::to_string(size) + "\r\n\r\n";
}

const std::string kChunkedHead =
    "POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nX-Route: stream\r\nContent-Type: application/json\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";

std::string chunk(std::string_view data) {
  char line[32];
  std::snprintf(line, sizeof line, "%zx\r\n", data.size());
  return line + std::string(data) + "\r\n";
}

// `body` cut into `n` pieces, chunked or not.
std::vector<std::string> pieces(const std::string& body, std::size_t n, bool chunked) {
  std::vector<std::string> out;
  const std::size_t size = (body.size() + n - 1) / n;
  for (std::size_t at = 0; at < body.size(); at += size) {
    const std::string piece = body.substr(at, size);
    out.push_back(chunked ? chunk(piece) : piece);
  }
  if (chunked) out.back() += "0\r\n\r\n";
  return out;
}

class ClientBody : public ::testing::Test {
 protected:
  void SetUp() override {
    sim_ = std::make_unique<mt::SimProcess>("vm02", std::vector<std::string>{"--models", kQwen});
    gw_ = std::make_unique<mt::GatewayProcess>(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
    timeouts: {readHeader: 1s, readBody: 700ms}
    limits: {maxBodyBytes: 4096, maxHeaderBytes: 2048}
accessLog:
  format: json
http:
  routers:
    models:
      rule: "PathPrefix(`/v1`) && Model(`Qwen2.5-0.5B-Instruct`)"
      service: live
    stream:
      rule: "Header(`X-Route`, `stream`)"
      service: live
      priority: 1000
  services:
    live:
      loadBalancer: {servers: [{url: "http://127.0.0.1:)y" + std::to_string(sim_->port()) + R"y("}]}
)y");
  }

  std::unique_ptr<mt::SimProcess> sim_;
  std::unique_ptr<mt::GatewayProcess> gw_;
};

void expect_served(const mt::PacedExchange& r) {
  EXPECT_EQ(r.received.rfind("HTTP/1.1 200", 0), 0u) << "ended by " << r.end << ": " << r.received;
  EXPECT_NE(r.received.find("chat.completion"), std::string::npos) << r.received;
}

void expect_408(const mt::PacedExchange& r, double took_ms) {
  EXPECT_EQ(r.received.rfind("HTTP/1.1 408", 0), 0u) << "ended by " << r.end << ": " << r.received;
  EXPECT_NE(r.received.find("Content-Type: application/json"), std::string::npos) << r.received;
  EXPECT_NE(r.received.find("{\"error\":{\"message\":"), std::string::npos) << r.received;
  EXPECT_NE(r.received.find("\"code\":\"request_timeout\""), std::string::npos) << r.received;
  EXPECT_NE(r.received.find("timeouts.readBody"), std::string::npos) << r.received;
  EXPECT_GE(took_ms, 650) << "readBody is 700 ms";
  EXPECT_LT(took_ms, 3000);
}

}  // namespace

// 1.4 KB in 10 pieces 250 ms apart: 2.25 s in all, over readHeader (1 s), each gap under readBody.
TEST_F(ClientBody, SlowSteadyUploadIsServed) {
  const std::string body = chat_body();
  auto parts = pieces(body, 10, false);
  parts.insert(parts.begin(), length_head(body.size(), "Connection: close\r\n"));
  expect_served(mt::raw_exchange_paced(gw_->port(), parts, 250ms, 10s));
}

TEST_F(ClientBody, SlowSteadyChunkedUploadIsStreamedThrough) {
  auto parts = pieces(chat_body(), 10, true);
  parts.front().insert(0, kChunkedHead);
  parts.front().insert(kChunkedHead.size() - 2, "Connection: close\r\n");
  expect_served(mt::raw_exchange_paced(gw_->port(), parts, 250ms, 10s));
}

// Half the body, then nothing: 408 after readBody, in the OpenAI shape, and an access-log line.
TEST_F(ClientBody, StalledUploadIs408AndLogged) {
  const std::string body = chat_body();
  const auto start = std::chrono::steady_clock::now();
  auto r = mt::raw_exchange_paced(gw_->port(), {length_head(body.size()) + body.substr(0, 700)}, 0ms, 5s);
  expect_408(r, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  EXPECT_TRUE(gw_->process().wait_for_line(std::regex(R"("status":408)"), 2s)) << gw_->process().output();
}

// The streamed body stalls after its head went to the server: still 408, not a server error.
TEST_F(ClientBody, StalledStreamedUploadIs408NotUpstreamError) {
  const auto start = std::chrono::steady_clock::now();
  auto r = mt::raw_exchange_paced(gw_->port(), {kChunkedHead + chunk("{\"model\":")}, 0ms, 5s);
  expect_408(r, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  EXPECT_EQ(r.received.find("upstream_error"), std::string::npos) << r.received;
  EXPECT_TRUE(gw_->process().wait_for_line(std::regex(R"("status":408)"), 2s)) << gw_->process().output();
}

// An answer sent before the request was read whole: the client, still sending, can finish its
// request and then reads the answer and a clean end of the connection (no reset).
class LingeringClose : public ClientBody,
                       public ::testing::WithParamInterface<std::pair<int, std::string>> {};

TEST_P(LingeringClose, EarlyAnswerSurvivesTheRestOfTheRequest) {
  const auto& [status, head] = GetParam();
  const std::string more(8 * 1024, 'b');
  auto r = mt::raw_exchange_paced(gw_->port(), {head + more, more, more}, 300ms, 6s);
  EXPECT_EQ(r.received.rfind("HTTP/1.1 " + std::to_string(status), 0), 0u) << r.received;
  EXPECT_EQ(r.pieces_written, 3u) << "the rest of the request was refused (a reset)";
  EXPECT_EQ(r.end, "eof");
}

INSTANTIATE_TEST_SUITE_P(
    EarlyAnswers, LingeringClose,
    ::testing::Values(std::make_pair(413, length_head(100000)),
                      std::make_pair(431, length_head(100000, "X-Big: " + std::string(3000, 'h') + "\r\n")),
                      std::make_pair(400, length_head(100000, "Content-Length: 7\r\n"))));
