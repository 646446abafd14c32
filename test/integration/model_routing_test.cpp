// How the gateway reads the model a request names, end to end: a JSON body naming it twice, the
// catalogue of a router whose rule excludes a model, and audio uploads sent with real `curl -F`
// (multipart/form-data) through the gateway to sims, routed by their "model" part by Model()
// rules and by discovery, with the upload arriving byte for byte.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "balancing/hash_key.h"
#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

std::string url(std::uint16_t port) { return "http://127.0.0.1:" + std::to_string(port); }

// The text a sim answers for an upload of `audio` to `model`.
std::string heard(std::string_view verb, std::string_view audio, std::string_view model) {
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(modelgate::balancing::hash_bytes(audio)));
  return std::string(verb) + " " + std::to_string(audio.size()) + " bytes of audio (hash " + hash + ") with " +
         std::string(model);
}

// Bytes that look like audio to nobody but exercise the delimiter search: every byte value,
// CRLFs and dashes included.
std::string audio_bytes(std::size_t size) {
  std::string s(size, '\0');
  std::uint32_t x = 12345;
  for (auto& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 16);
  }
  return s;
}

std::string write_file(const std::string& name, const std::string& bytes) {
  const std::string path = mt::temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

struct CurlResult {
  int status = 0;
  std::string body;
};

// `curl -sS -F ... URL`: the status (from -w) and the body.
CurlResult curl_form(std::uint16_t port, std::string_view path, const std::vector<std::string>& fields) {
  std::vector<std::string> args = {"-sS", "--max-time", "20", "-w", "\n%{http_code}\n"};
  for (const auto& f : fields) {
    args.push_back("-F");
    args.push_back(f);
  }
  args.push_back(url(port) + std::string(path));
  mt::Process curl("curl", args);
  // The status is the last line: once it is read, so is the body before it.
  const auto status = curl.wait_for_line(std::regex("^[0-9]{3}$"), 30s);
  EXPECT_EQ(curl.wait(30s), 0) << curl.output();
  CurlResult r;
  if (!status) return r;
  r.status = std::stoi(status->line);
  const std::string out = curl.output();
  r.body = out.substr(0, out.rfind('\n' + status->line));
  return r;
}

std::string chat(std::string_view model) {
  return "{\"model\":\"" + std::string(model) + "\",\"max_tokens\":2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
}

// A gateway config: one router per rule, all to one sim.
std::string one_sim(const std::vector<std::string>& rules, const mt::SimProcess& sim) {
  std::string yaml = "entryPoints:\n  web: {address: \"127.0.0.1:0\"}\nhttp:\n  routers:\n";
  for (std::size_t i = 0; i < rules.size(); ++i)
    yaml += "    r" + std::to_string(i) + ": {rule: \"" + rules[i] + "\", service: sim}\n";
  return yaml + "  services:\n    sim:\n      loadBalancer: {servers: [{url: " + url(sim.port()) + "}]}\n";
}

bool has(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST(ModelRouting, DuplicateModelKeyIs400NamingTheKey) {
  mt::SimProcess sim("vm02", {"--models", "allowed,other"});
  mt::GatewayProcess gw(one_sim({"Model(`allowed`)"}, sim));
  mt::HttpClient c("127.0.0.1", gw.port());
  // Routed by the first key, it would be served as the last by a Python server.
  for (const std::string body :
       {R"({"model":"allowed","messages":[{"role":"user","content":"hi"}],"max_tokens":2,"model":"other"})",
        R"({"model":"allowed","max_tokens":2,"messages":[],"mod\u0065l":"other"})"}) {
    auto r = c.post_json("/v1/chat/completions", body);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_TRUE(has(r.body, R"("type":"invalid_request_error")")) << r.body;
    EXPECT_TRUE(has(r.body, R"("code":"duplicate_model")")) << r.body;
    EXPECT_TRUE(has(r.body, R"(the key \"model\" more than once)")) << r.body;
  }
  // The connection goes on; the model named once is served.
  auto ok = c.post_json("/v1/chat/completions", chat("allowed"));
  EXPECT_EQ(ok.status, 200) << ok.body << ok.error;
}

TEST(ModelRouting, NegatedModelIsNotListedAsServed) {
  mt::SimProcess sim("vm02", {"--models", "a,x"});
  mt::GatewayProcess gw(one_sim({"PathPrefix(`/v1`) && Model(`a`) && !Model(`x`)",
                                 "Model(`c`) && !(Model(`b`) || Path(`/none`))"},
                                sim));
  mt::HttpClient c("127.0.0.1", gw.port());
  auto r = c.post_json("/v1/chat/completions", chat("zzz"));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_TRUE(has(r.body, "Available models: a, c")) << r.body;
  EXPECT_EQ(c.post_json("/v1/chat/completions", chat("x")).status, 404);
}

class AudioRouting : public ::testing::Test {
 protected:
  void SetUp() override {
    whisper_ = std::make_unique<mt::SimProcess>("vm-whisper", std::vector<std::string>{"--models", "whisper-1"});
    large_ = std::make_unique<mt::SimProcess>("vm-large", std::vector<std::string>{"--models", "large-v3"});
    gw_ = std::make_unique<mt::GatewayProcess>(R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
  disc: {address: "127.0.0.1:0"}
http:
  routers:
    whisper: {rule: "PathPrefix(`/v1/audio`) && Model(`whisper-1`)", service: whisper, entryPoints: [web]}
    large: {rule: "PathPrefix(`/v1/audio`) && Model(`large-v3`)", service: large, entryPoints: [web]}
    pool: {rule: "PathPrefix(`/v1`)", service: pool, entryPoints: [disc]}
  services:
    whisper:
      loadBalancer: {servers: [{url: )y" + url(whisper_->port()) + R"y(}]}
    large:
      loadBalancer: {servers: [{url: )y" + url(large_->port()) + R"y(}]}
    pool:
      loadBalancer:
        servers: [{url: )y" + url(whisper_->port()) + R"y(}, {url: )y" + url(large_->port()) + R"y(}]
        discoverModels: {interval: 300ms}
models:
  whisper: {target: whisper-1}
)y");
  }
  std::unique_ptr<mt::SimProcess> whisper_, large_;
  std::unique_ptr<mt::GatewayProcess> gw_;
};

TEST_F(AudioRouting, CurlUploadsAreRoutedByTheirModelPartAndArriveUnchanged) {
  const std::string audio = audio_bytes(300 * 1024);
  const std::string file = write_file("speech.wav", audio);
  // The OpenAI reference's order (file first), and model first.
  auto r = curl_form(gw_->port(), "/v1/audio/transcriptions", {"file=@" + file, "model=whisper-1"});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(has(r.body, heard("transcribed", audio, "whisper-1"))) << r.body;
  r = curl_form(gw_->port(), "/v1/audio/translations", {"model=large-v3", "file=@" + file, "response_format=text"});
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, heard("translated", audio, "large-v3") + "\n");
  // A model no router serves: the JSON body's 404, listing what is served.
  r = curl_form(gw_->port(), "/v1/audio/transcriptions", {"file=@" + file, "model=tiny"});
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_TRUE(has(r.body, R"("code":"model_not_found")")) << r.body;
  EXPECT_TRUE(has(r.body, "Available models: ") && has(r.body, "large-v3") && has(r.body, "whisper-1")) << r.body;
}

TEST_F(AudioRouting, DiscoveryRoutesUploadsToTheServerWithTheModel) {
  const std::string audio = audio_bytes(64 * 1024);
  const std::string file = write_file("clip.mp3", audio);
  mt::HttpClient c("127.0.0.1", gw_->port("disc"));
  // Discovery has run once the catalogue lists both models.
  ASSERT_TRUE(mt::wait_until([&] { return has(c.get("/v1/models").body, "large-v3"); }, 5s))
      << "discovery never listed large-v3";
  for (int i = 0; i < 4; ++i) {
    auto r = curl_form(gw_->port("disc"), "/v1/audio/transcriptions", {"model=large-v3", "file=@" + file});
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_TRUE(has(r.body, heard("transcribed", audio, "large-v3"))) << r.body;
  }
}

TEST_F(AudioRouting, AliasDuplicateAndMissingModelPartsAre400) {
  const std::string file = write_file("a.wav", audio_bytes(4096));
  auto r = curl_form(gw_->port(), "/v1/audio/transcriptions", {"model=whisper", "file=@" + file});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(has(r.body, R"("code":"alias_not_supported")")) << r.body;
  EXPECT_TRUE(has(r.body, "name `whisper-1` in its")) << r.body;

  r = curl_form(gw_->port(), "/v1/audio/transcriptions", {"model=whisper-1", "file=@" + file, "model=large-v3"});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(has(r.body, R"("code":"duplicate_model")")) << r.body;
  EXPECT_TRUE(has(r.body, R"(more than one \"model\" part)")) << r.body;

  r = curl_form(gw_->port(), "/v1/audio/transcriptions", {"file=@" + file, "language=en"});
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_TRUE(has(r.body, R"("code":"missing_model")")) << r.body;
  EXPECT_TRUE(has(r.body, R"(no \"model\" part)")) << r.body;

  // A body that does not follow its Content-Type's framing.
  mt::HttpClient c("127.0.0.1", gw_->port());
  auto bad = c.request("POST", "/v1/audio/transcriptions",
                       {{"Content-Type", "multipart/form-data; boundary=xyz"}}, "--xyz\r\nno colon\r\n\r\nx\r\n--xyz--\r\n");
  EXPECT_EQ(bad.status, 400) << bad.body;
  EXPECT_TRUE(has(bad.body, R"("code":"invalid_multipart")")) << bad.body;
  EXPECT_TRUE(has(bad.body, "a part header line has no colon")) << bad.body;
}
