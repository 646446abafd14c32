// API keys against the real gateway and `modelgate sim`s (docs/auth.md): 401 without a valid key,
// /ping open, 403 for a model the key may not use, /v1/models filtered by key, the keys file
// reloaded (a bad one keeps the running keys), keys added and revoked through the admin API, and
// the access log naming the key, never its secret.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";
constexpr const char* kGlm = "glm4-9b-chat";

mt::Headers bearer(const std::string& key) { return {{"Authorization", "Bearer " + key}}; }

struct KeyedFleet {
  std::string dir = mt::temp_dir();
  std::string keys_file = dir + "/keys.yaml";
  std::string log_file = dir + "/access.log";
  mt::SimProcess sim{"vm1", {"--models", std::string(kQwen) + "," + kGlm}};

  std::string config(const std::string& keys_inline) const {
    return R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
ping: {}
accessLog:
  path: )y" + log_file + R"y(
  format: json
auth:
  keysFile: )y" + keys_file + R"y(
  budgetsFile: )y" + dir + R"y(/budgets.sqlite
  keys:
)y" + keys_inline + R"y(
http:
  routers:
    chat:
      rule: "Model(`)y" + kQwen + "`) || Model(`" + kGlm + R"y(`)"
      service: pool
  services:
    pool:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:)y" + std::to_string(sim.port()) + "\n";
  }
  void write_keys(const std::string& yaml) const { std::ofstream(keys_file, std::ios::trunc) << yaml; }
};

constexpr const char* kInline = R"y(    - name: qwen-only
      key: sk-qwen-only
      models: ["Qwen*"]
    - name: everything
      sha256: )y";

std::string inline_keys() {
  // sha256 of "sk-everything"
  return std::string(kInline) + "00045f949f8c923b7a3554aac941f0ec1c72d5606133b5161f3f297c5aec9247\n";
}

}  // namespace

TEST(Auth, RequestsNeedAKnownBearerKeyAndPingStaysOpen) {
  KeyedFleet s;
  s.write_keys("keys:\n  - {name: from-file, key: sk-from-file}\n");
  mt::GatewayProcess gw(s.config(inline_keys()));
  mt::HttpClient c("127.0.0.1", gw.port());

  auto missing = c.post_json("/v1/chat/completions", mt::chat_json(kQwen));
  EXPECT_EQ(missing.status, 401) << missing.body;
  mt::Json j(missing.body);
  ASSERT_TRUE(j.ok) << missing.body;
  EXPECT_EQ(mt::str(j.root["error"], "code"), "invalid_api_key");
  EXPECT_NE(mt::str(j.root["error"], "message").find("Authorization: Bearer"), std::string::npos);

  auto unknown = c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-nope"));
  EXPECT_EQ(unknown.status, 401);
  EXPECT_NE(unknown.body.find("Incorrect API key"), std::string::npos) << unknown.body;
  auto basic = c.post_json("/v1/chat/completions", mt::chat_json(kQwen), {{"Authorization", "Basic eDp5"}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_NE(basic.body.find("Malformed Authorization header"), std::string::npos) << basic.body;
  auto overlong = c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer(std::string(300, 'k')));
  EXPECT_EQ(overlong.status, 401);
  EXPECT_NE(overlong.body.find("longer than 256 bytes"), std::string::npos) << overlong.body;
  mt::HttpClient c2("127.0.0.1", gw.port());
  auto twice = c2.post_json("/v1/chat/completions", mt::chat_json(kQwen),
                            {{"Authorization", "Bearer sk-qwen-only"}, {"Authorization", "Bearer sk-qwen-only"}});
  EXPECT_EQ(twice.status, 401);
  EXPECT_NE(twice.body.find("more than one Authorization header"), std::string::npos) << twice.body;

  mt::HttpClient c3("127.0.0.1", gw.port());
  EXPECT_EQ(c3.get("/ping").status, 200);
  auto ok = c3.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-qwen-only"));
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(c3.post_json("/v1/chat/completions", mt::chat_json(kGlm), bearer("sk-from-file")).status, 200);
}

TEST(Auth, AKeyUsesOnlyItsModelsAndListsOnlyThem) {
  KeyedFleet s;
  s.write_keys("keys: []\n");
  mt::GatewayProcess gw(s.config(inline_keys()));
  mt::HttpClient c("127.0.0.1", gw.port());

  auto refused = c.post_json("/v1/chat/completions", mt::chat_json(kGlm), bearer("sk-qwen-only"));
  EXPECT_EQ(refused.status, 403) << refused.body;
  mt::Json j(refused.body);
  ASSERT_TRUE(j.ok) << refused.body;
  EXPECT_EQ(mt::str(j.root["error"], "code"), "model_not_allowed");

  auto list = c.get("/v1/models", bearer("sk-qwen-only"));
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_NE(list.body.find(kQwen), std::string::npos) << list.body;
  EXPECT_EQ(list.body.find(kGlm), std::string::npos) << list.body;
  EXPECT_EQ(c.get(std::string("/v1/models/") + kGlm, bearer("sk-qwen-only")).status, 404);

  auto all = c.get("/v1/models", bearer("sk-everything"));
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_NE(all.body.find(kGlm), std::string::npos) << all.body;
  EXPECT_EQ(c.get("/v1/models").status, 401);
}

TEST(Auth, TheKeysFileIsReloadedAndABadOneKeepsTheRunningKeys) {
  KeyedFleet s;
  s.write_keys("keys:\n  - {name: first, key: sk-first}\n");
  mt::GatewayProcess gw(s.config(inline_keys()));
  mt::HttpClient c("127.0.0.1", gw.port());
  auto status_for = [&](const std::string& key) {
    return c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer(key)).status;
  };
  EXPECT_EQ(status_for("sk-first"), 200);

  s.write_keys("keys:\n  - {name: second, key: sk-second}\n");
  EXPECT_TRUE(mt::wait_until([&] { return status_for("sk-second") == 200; }, 5s));
  EXPECT_EQ(status_for("sk-first"), 401);

  s.write_keys("keys:\n  - {name: third, key: sk-third}\n  - {name: third, key: sk-3}\n");
  auto line = gw.process().wait_for_line(std::regex(".*keys\\.yaml:3:5: error: auth\\.keys: the name \"third\".*"), 5s);
  EXPECT_TRUE(line) << gw.process().output();
  EXPECT_EQ(status_for("sk-second"), 200);
  EXPECT_EQ(status_for("sk-third"), 401);
}

TEST(Auth, TheAdminApiAddsAKeyShownOnceAndRevokesIt) {
  KeyedFleet s;
  s.write_keys("keys: []\n");
  mt::GatewayProcess gw(s.config(inline_keys()));
  mt::HttpClient admin("127.0.0.1", mt::admin_port(gw.process()));
  mt::HttpClient c("127.0.0.1", gw.port());

  auto added = admin.post_json("/api/keys", R"({"name": "team-b", "models": ["glm4*"], "priority": "batch"})");
  ASSERT_EQ(added.status, 201) << added.body;
  mt::Json j(added.body);
  ASSERT_TRUE(j.ok);
  const std::string secret = mt::str(j.root, "key");
  ASSERT_TRUE(secret.starts_with("sk-mg-")) << added.body;
  EXPECT_EQ(mt::str(j.root, "sha256").size(), 64u);
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kGlm), bearer(secret)).status, 200);
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer(secret)).status, 403);

  EXPECT_EQ(admin.post_json("/api/keys", R"({"name": "team-b"})").status, 409);
  auto bad_glob = admin.post_json("/api/keys", R"({"name": "x", "models": ["[oops"]})");
  EXPECT_EQ(bad_glob.status, 400);
  EXPECT_NE(bad_glob.body.find("never closed"), std::string::npos) << bad_glob.body;

  // A reload of the file keeps the key the API added.
  s.write_keys("keys:\n  - {name: other, key: sk-other}\n");
  EXPECT_TRUE(mt::wait_until(
      [&] { return c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-other")).status == 200; }, 5s));
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kGlm), bearer(secret)).status, 200);

  EXPECT_EQ(admin.request("DELETE", "/api/keys/team-b").status, 200);
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kGlm), bearer(secret)).status, 401);
  EXPECT_EQ(admin.request("DELETE", "/api/keys/qwen-only").status, 200);
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-qwen-only")).status, 401);
  EXPECT_EQ(admin.request("DELETE", "/api/keys/nobody").status, 404);
}

TEST(Auth, TheAccessLogNamesTheKeyAndNeverShowsTheSecret) {
  KeyedFleet s;
  s.write_keys("keys: []\n");
  mt::GatewayProcess gw(s.config(inline_keys()));
  mt::HttpClient c("127.0.0.1", gw.port());
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-qwen-only")).status, 200);
  EXPECT_EQ(c.post_json("/v1/chat/completions", mt::chat_json(kQwen), bearer("sk-wrong-secret")).status, 401);
  std::vector<std::string> lines;
  ASSERT_TRUE(mt::wait_until([&] { return (lines = mt::read_lines(s.log_file)).size() >= 2; }, 5s));
  EXPECT_NE(lines[0].find("\"key\":\"qwen-only\""), std::string::npos) << lines[0];
  EXPECT_EQ(lines[1].find("\"key\""), std::string::npos) << lines[1];
  for (const auto& l : lines) {
    EXPECT_EQ(l.find("sk-qwen-only"), std::string::npos) << l;
    EXPECT_EQ(l.find("sk-wrong"), std::string::npos) << l;
  }
}
