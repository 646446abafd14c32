// The whole OpenAI surface through the real gateway, in front of `modelgate sim`s: the gateway's
// own model list (GET /v1/models, /v1/models/{id}) with the health of the servers holding each
// model; the Responses API (routed by model, time to first token from its first delta, usage from
// response.completed, nothing injected); embeddings, rerank, speech and image generation routed,
// counted in the access log and the metrics, and their errors in the OpenAI shape.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

using mt::Json;
using mt::num;
using mt::read_lines;
using mt::str;
using mt::wait_until;

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";
constexpr const char* kGlm = "glm4-9b-chat";
constexpr const char* kEmbed = "bge-m3";
constexpr const char* kRerank = "bge-reranker-v2-m3";
constexpr const char* kTts = "tts-1";
constexpr const char* kImage = "gpt-image-1";

std::string url(const mt::SimProcess& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

void expect_openai_error(const mt::Response& r, int status, std::string_view code) {
  EXPECT_EQ(r.status, status) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  simdjson::dom::element e;
  ASSERT_FALSE(j.root["error"].get(e)) << r.body;
  EXPECT_FALSE(str(e, "message").empty()) << r.body;
  EXPECT_EQ(str(e, "code"), code) << r.body;
}

// Two machines: A serves chat and the media models, B serves glm4; health checked every 300 ms.
class OpenAiSurface : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string a_models =
        std::string(kQwen) + "," + kEmbed + "," + kRerank + "," + kTts + "," + kImage;
    a_ = std::make_unique<mt::SimProcess>(
        "vm02", std::vector<std::string>{"--models", a_models, "--ttft-ms", "60", "--tpot-ms", "5"});
    b_ = std::make_unique<mt::SimProcess>("vm03", std::vector<std::string>{"--models", kGlm});
    log_path_ = mt::temp_dir() + "/access.json.log";
    gw_ = std::make_unique<mt::GatewayProcess>(R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
admin: {address: "127.0.0.1:0"}
accessLog: {path: )y" + log_path_ + R"y(, format: json}
http:
  routers:
    glm4: {rule: "Model(`glm4-9b-chat`)", service: machine-b}
    a: {rule: "Model(`Qwen2.5-0.5B-Instruct`, `bge-m3`, `tts-1`, `gpt-image-1`) || ModelRegexp(`^bge-reranker`)", service: machine-a}
  services:
    machine-a:
      loadBalancer:
        servers: [{url: ")y" + url(*a_) + R"y("}]
    machine-b:
      loadBalancer:
        servers: [{url: ")y" + url(*b_) + R"y("}]
        healthCheck: {path: /health, interval: 300ms, timeout: 250ms, fall: 1, rise: 1}
models:
  gpt-4o-mini: {target: Qwen2.5-0.5B-Instruct}
)y");
    client_ = std::make_unique<mt::HttpClient>("127.0.0.1", gw_->port());
  }

  // The access log lines, once there are at least `n` (written about 50 ms behind).
  std::vector<std::string> log_lines(std::size_t n) {
    std::vector<std::string> lines;
    wait_until([&] { return (lines = read_lines(log_path_)).size() >= n; }, 3s, 10ms);
    return lines;
  }

  std::string metrics() {
    mt::HttpClient admin("127.0.0.1", mt::admin_port(gw_->process()), 5s);
    return admin.get("/metrics").body;
  }

  std::unique_ptr<mt::SimProcess> a_, b_;
  std::string log_path_;
  std::unique_ptr<mt::GatewayProcess> gw_;
  std::unique_ptr<mt::HttpClient> client_;
  const mt::Headers json_ = {{"Content-Type", "application/json"}};
};

}  // namespace

TEST_F(OpenAiSurface, ModelListWithoutDiscoveryNamesEveryRoutedModelAndItsHealth) {
  auto r = client_->get("/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  EXPECT_FALSE(r.has_header("X-Served-By")) << "the gateway answers itself";
  Json j(r.body);
  ASSERT_TRUE(j.ok) << r.body;
  EXPECT_EQ(str(j.root, "object"), "list");
  std::map<std::string, simdjson::dom::element> by_id;
  for (auto m : simdjson::dom::array(j.root["data"])) {
    EXPECT_TRUE(by_id.emplace(str(m, "id"), m).second) << str(m, "id") << " listed twice: " << r.body;
    EXPECT_EQ(str(m, "object"), "model");
    EXPECT_EQ(str(m, "owned_by"), "modelgate");
  }
  // The Model() names and the alias; the ModelRegexp names nothing without discovery.
  std::vector<std::string> ids;
  for (const auto& [id, _] : by_id) ids.push_back(id);
  EXPECT_EQ(ids, (std::vector<std::string>{kQwen, kEmbed, kGlm, "gpt-4o-mini", kImage, kTts})) << r.body;
  ASSERT_TRUE(by_id.contains(kGlm)) << r.body;
  simdjson::dom::element holders;
  ASSERT_FALSE(by_id[kGlm]["modelgate"].get(holders)) << "no modelgate extension field: " << r.body;
  std::string_view service, server;
  bool available = false;
  EXPECT_FALSE(holders.at_pointer("/services/0").get(service));
  EXPECT_EQ(service, "machine-b") << r.body;
  EXPECT_FALSE(holders.at_pointer("/servers/0/url").get(server));
  EXPECT_EQ(server, url(*b_)) << r.body;
  EXPECT_FALSE(holders["available"].get(available));
  EXPECT_TRUE(available) << r.body;
  EXPECT_EQ(str(by_id["gpt-4o-mini"], "alias_of"), kQwen);

  auto one = client_->get(std::string("/v1/models/") + kGlm);
  ASSERT_EQ(one.status, 200) << one.body;
  Json o(one.body);
  EXPECT_EQ(str(o.root, "id"), kGlm);
  expect_openai_error(client_->get("/v1/models/gpt-5"), 404, "model_not_found");

  // B dies: its model stays listed, as not available, once the health check has seen it.
  b_->process().kill();
  b_->process().wait(5s);
  std::string last;
  const bool down = wait_until(
      [&] {
        last = client_->get(std::string("/v1/models/") + kGlm).body;
        return last.find(R"("available":false}})") != std::string::npos;
      },
      3s, 20ms);
  EXPECT_TRUE(down) << last;
  EXPECT_NE(last.find(R"("servers":0)"), std::string::npos) << last;
}

TEST_F(OpenAiSurface, ResponsesApiRoutedCountedAndNotInjected) {
  // Not streamed.
  auto plain =
      client_->post_json("/v1/responses", std::string(R"({"model":")") + kQwen +
                                              R"(","input":"Tell me a story","max_output_tokens":6})");
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.header("X-Served-By"), "vm02");
  Json p(plain.body);
  ASSERT_TRUE(p.ok) << plain.body;
  EXPECT_EQ(str(p.root, "object"), "response");
  EXPECT_EQ(num(p.root["usage"], "output_tokens"), 6);
  EXPECT_EQ(num(p.root["usage"], "input_tokens"), 4);

  // Streamed, without asking for anything: the sim rejects include_usage on /v1/responses, so
  // the gateway (usage: inject, the default) must not add it.
  auto s = client_->stream("POST", "/v1/responses", json_,
                           std::string(R"({"model":"gpt-4o-mini","stream":true,"max_output_tokens":5,)") +
                               R"("input":[{"role":"user","content":"Tell me a story about a gateway"}]})");
  ASSERT_EQ(s.status, 200) << s.body;
  ASSERT_TRUE(s.complete) << s.error;
  ASSERT_EQ(s.events.size(), 4u + 5u + 4u) << s.body;
  EXPECT_NE(s.events.front().data.find("response.created"), std::string::npos);
  EXPECT_NE(s.events.back().data.find(R"("output_tokens":5)"), std::string::npos) << s.events.back().data;
  EXPECT_NE(s.events.back().data.find(R"("model":"Qwen2.5-0.5B-Instruct")"), std::string::npos)
      << "the alias is rewritten: " << s.events.back().data;

  auto lines = log_lines(2);
  ASSERT_EQ(lines.size(), 2u);
  Json l0(lines[0]), l1(lines[1]);
  EXPECT_EQ(str(l0.root, "path"), "/v1/responses");
  EXPECT_EQ(num(l0.root, "prompt_tokens"), 4) << lines[0];
  EXPECT_EQ(num(l0.root, "completion_tokens"), 6) << lines[0];
  EXPECT_EQ(str(l1.root, "model"), kQwen) << lines[1];
  EXPECT_EQ(num(l1.root, "prompt_tokens"), 7) << lines[1];
  EXPECT_EQ(num(l1.root, "completion_tokens"), 5) << lines[1];
  double ttft = -1;
  ASSERT_FALSE(l1.root["ttft_ms"].get(ttft)) << lines[1];
  EXPECT_GE(ttft, 50.0) << "time to first token is the first delta (sim ttft 60 ms), not response.created: "
                        << lines[1];

  const std::string m = metrics();
  EXPECT_NE(m.find(R"(modelgate_tokens_total{model="Qwen2.5-0.5B-Instruct",kind="completion"} 11)"),
            std::string::npos)
      << m;
}

TEST_F(OpenAiSurface, EmbeddingsRerankSpeechAndImagesRoutedAndCounted) {
  auto e = client_->post_json("/v1/embeddings", std::string(R"({"model":")") + kEmbed +
                                                    R"(","input":["hello world","one two three"]})");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.header("X-Served-By"), "vm02");

  auto r = client_->post_json("/v1/rerank",
                              std::string(R"({"model":")") + kRerank +
                                  R"(","query":"green tea","top_n":2,)"
                                  R"("documents":["black coffee","green tea leaves",{"text":"tea"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  Json rj(r.body);
  ASSERT_TRUE(rj.ok) << r.body;
  auto results = simdjson::dom::array(rj.root["results"]);
  ASSERT_EQ(results.size(), 2u) << r.body;
  EXPECT_EQ(num(results.at(0), "index"), 1) << r.body;
  EXPECT_EQ(num(rj.root["usage"], "total_tokens"), 2 * 3 + 2 + 3 + 1) << r.body;

  auto speech = client_->post_json("/v1/audio/speech", std::string(R"({"model":")") + kTts +
                                                           R"(","input":"Hello there","voice":"alloy",)"
                                                           R"("response_format":"wav"})");
  ASSERT_EQ(speech.status, 200) << speech.body;
  EXPECT_EQ(speech.header("Content-Type"), "audio/wav");
  ASSERT_EQ(speech.body.size(), 44u + 2 * 4800u);
  EXPECT_EQ(speech.body.substr(0, 4), "RIFF");

  auto image = client_->post_json("/v1/images/generations", std::string(R"({"model":")") + kImage +
                                                                R"(","prompt":"a red fox","n":2,)"
                                                                R"("response_format":"b64_json"})");
  ASSERT_EQ(image.status, 200) << image.body;
  Json ij(image.body);
  ASSERT_TRUE(ij.ok) << image.body;
  EXPECT_EQ(simdjson::dom::array(ij.root["data"]).size(), 2u);
  EXPECT_EQ(str(simdjson::dom::array(ij.root["data"]).at(0), "b64_json").substr(0, 8), "iVBORw0K");

  // Errors: a model no router names (the gateway), a request the server refuses (passed on).
  expect_openai_error(client_->post_json("/v1/rerank", R"({"model":"nope","query":"q","documents":["d"]})"),
                      404, "model_not_found");
  auto refused =
      client_->post_json("/v1/rerank", std::string(R"({"model":")") + kRerank + R"(","documents":["d"]})");
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_EQ(refused.header("X-Served-By"), "vm02");
  EXPECT_NE(refused.body.find("'query'"), std::string::npos) << refused.body;
  auto bad_voice = client_->post_json(
      "/v1/audio/speech", std::string(R"({"model":")") + kTts + R"(","input":"x","response_format":"ogg"})");
  EXPECT_EQ(bad_voice.status, 400) << bad_voice.body;

  auto lines = log_lines(7);
  ASSERT_EQ(lines.size(), 7u);
  std::map<std::string, std::string> by_model;
  for (const auto& line : lines) {
    Json j(line);
    ASSERT_TRUE(j.ok) << line;
    if (num(j.root, "status") == 200) by_model[str(j.root, "model")] = line;
  }
  auto prompt_of = [&](const char* model) {
    Json j(by_model[model]);
    return num(j.root, "prompt_tokens");
  };
  EXPECT_EQ(prompt_of(kEmbed), 5) << by_model[kEmbed];
  EXPECT_EQ(prompt_of(kRerank), 12) << by_model[kRerank];
  EXPECT_EQ(prompt_of(kImage), 3) << by_model[kImage];
  EXPECT_EQ(prompt_of(kTts), -1) << "speech reports no usage: " << by_model[kTts];
  Json sl(by_model[kTts]);
  EXPECT_EQ(str(sl.root, "upstream"), url(*a_));
  EXPECT_EQ(str(sl.root, "path"), "/v1/audio/speech");

  const std::string m = metrics();
  EXPECT_NE(m.find(R"(modelgate_tokens_total{model="bge-m3",kind="prompt"} 5)"), std::string::npos) << m;
  EXPECT_NE(m.find(R"(modelgate_tokens_total{model="bge-reranker-v2-m3",kind="prompt"} 12)"),
            std::string::npos)
      << m;
}
