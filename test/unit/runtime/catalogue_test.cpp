// The gateway's own model list, built from a compiled configuration: which models an entry point
// lists, who holds each, when the gateway answers /v1/models itself and when a router does.
#include "runtime/catalogue.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "config/loader.h"

namespace mr = modelgate::runtime;

namespace {

constexpr std::int64_t kNow = 1'000'000'000'000;

// A snapshot of `yaml`; `discovered` gives the models each server URL lists (as model discovery
// would have recorded them before the snapshot was built).
struct Built {
  mr::ServerRegistry registry;
  std::shared_ptr<const mr::Snapshot> snap;

  Built(const std::string& yaml, const std::map<std::string, std::vector<std::string>>& discovered = {}) {
    auto loaded = modelgate::config::load_text(yaml, "test.yaml");
    EXPECT_TRUE(loaded.config) << (loaded.diagnostics.empty() ? "" : loaded.diagnostics.front().message);
    if (!loaded.config) return;
    auto first = mr::build_snapshot(*loaded.config, registry);
    auto* built = std::get_if<std::shared_ptr<const mr::Snapshot>>(&first);
    if (!built) {
      ADD_FAILURE() << std::get<std::vector<std::string>>(first).front();
      return;
    }
    for (const auto& svc : (*built)->services) {
      for (const auto& server : svc.servers) {
        auto it = discovered.find(server->spec.url);
        if (it == discovered.end()) continue;
        server->update_info([&](auto& info) {
          info.models = it->second;
          info.models_known = true;
        });
      }
    }
    // The registry hands the same server states back, now with their models.
    snap = std::get<std::shared_ptr<const mr::Snapshot>>(mr::build_snapshot(*loaded.config, registry));
  }
  const mr::EntryPointRuntime& ep() const { return snap->entry_points.front(); }
  std::vector<mr::CatalogueEntry> catalogue() const { return mr::build_catalogue(*snap, ep()); }
  std::optional<mr::ModelListAnswer> get(std::string_view path) const {
    return mr::answer_model_request(*snap, ep(), path, kNow);
  }
};

std::vector<std::string> ids(const std::vector<mr::CatalogueEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.id);
  return out;
}

const mr::CatalogueEntry& find(const std::vector<mr::CatalogueEntry>& entries, std::string_view id) {
  for (const auto& e : entries) {
    if (e.id == id) return e;
  }
  static const mr::CatalogueEntry none;
  ADD_FAILURE() << id << " is not listed";
  return none;
}

std::vector<std::string> urls(const mr::CatalogueEntry& e) {
  std::vector<std::string> out;
  for (const auto* s : e.servers) out.push_back(s->spec.url);
  return out;
}

constexpr const char* kRules = R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    glm4: {rule: "Model(`glm4-9b-chat`)", service: machine-b}
    qwen: {rule: "PathPrefix(`/v1`) && Model(`Qwen2.5-0.5B-Instruct`) && !Model(`banned`)", service: qwen-pool}
    other: {rule: "Header(`X-Route`, `x`)", service: machine-b}
  services:
    qwen-pool:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:9001"}, {url: "http://127.0.0.1:9002"}]
    machine-b:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:9002"}]
models:
  gpt-4o-mini: {target: Qwen2.5-0.5B-Instruct}
)y";

}  // namespace

TEST(Catalogue, ModelRulesAndAliasesWithoutDiscovery) {
  Built b(kRules);
  ASSERT_TRUE(b.snap);
  const auto entries = b.catalogue();
  EXPECT_EQ(ids(entries), (std::vector<std::string>{"Qwen2.5-0.5B-Instruct", "glm4-9b-chat", "gpt-4o-mini"}));
  const auto& qwen = find(entries, "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(qwen.services, std::vector<std::string>{"qwen-pool"});
  EXPECT_EQ(urls(qwen), (std::vector<std::string>{"http://127.0.0.1:9001", "http://127.0.0.1:9002"}));
  const auto& glm = find(entries, "glm4-9b-chat");
  EXPECT_EQ(urls(glm), std::vector<std::string>{"http://127.0.0.1:9002"});
  const auto& alias = find(entries, "gpt-4o-mini");
  EXPECT_EQ(alias.alias_of, "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(alias.services, std::vector<std::string>{"qwen-pool"});
}

TEST(Catalogue, ListAndOneModelInTheOpenAIShape) {
  Built b(kRules);
  ASSERT_TRUE(b.snap);
  auto list = b.get("/v1/models");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->status, 200);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(list->body).get(doc)) << list->body;
  EXPECT_EQ(std::string_view(doc["object"]), "list");
  simdjson::dom::array data = doc["data"];
  ASSERT_EQ(data.size(), 3u);
  auto first = data.at(0);
  EXPECT_EQ(std::string_view(first["id"]), "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(std::string_view(first["object"]), "model");
  EXPECT_EQ(std::string_view(first["owned_by"]), "modelgate");
  EXPECT_EQ(std::int64_t(first["servers"]), 2);
  EXPECT_EQ(std::string_view(first["modelgate"]["services"].at(0)), "qwen-pool");
  EXPECT_EQ(std::string_view(first["modelgate"]["servers"].at(1)["url"]), "http://127.0.0.1:9002");
  EXPECT_TRUE(bool(first["modelgate"]["available"]));

  auto one = b.get("/v1/models/glm4-9b-chat");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200);
  ASSERT_FALSE(parser.parse(one->body).get(doc)) << one->body;
  EXPECT_EQ(std::string_view(doc["id"]), "glm4-9b-chat");

  auto missing = b.get("/v1/models/gpt-5");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("`gpt-5`"), std::string::npos) << missing->body;
  EXPECT_NE(missing->body.find("glm4-9b-chat, gpt-4o-mini"), std::string::npos) << missing->body;
  // Not the gateway's: other paths.
  EXPECT_FALSE(b.get("/v1/modelsx"));
  EXPECT_FALSE(b.get("/v1/chat/completions"));
}

TEST(Catalogue, IdsWithSlashesPlainOrPercentEncoded) {
  Built b(R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    r: {rule: "Model(`Qwen/Qwen2.5-7B`)", service: s}
  services:
    s: {loadBalancer: {servers: [{url: "http://127.0.0.1:9001"}]}}
)y");
  ASSERT_TRUE(b.snap);
  for (const char* path : {"/v1/models/Qwen/Qwen2.5-7B", "/v1/models/Qwen%2FQwen2.5-7B"}) {
    auto a = b.get(path);
    ASSERT_TRUE(a) << path;
    EXPECT_EQ(a->status, 200) << path << " " << a->body;
    EXPECT_NE(a->body.find(R"("id":"Qwen/Qwen2.5-7B")"), std::string::npos) << a->body;
  }
}

TEST(Catalogue, DiscoveredModelsAndModelRegexp) {
  Built b(R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    all: {rule: "PathPrefix(`/v1`)", service: gpus}
    qwen: {rule: "ModelRegexp(`^Qwen`)", service: fixed, priority: 100}
  services:
    gpus:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:9001"}, {url: "http://127.0.0.1:9002"}]
        discoverModels: {interval: 10s}
    fixed:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:9003"}]
)y",
          {{"http://127.0.0.1:9001", {"Qwen2.5-0.5B-Instruct", "llama-3"}},
           {"http://127.0.0.1:9002", {"llama-3"}}});
  ASSERT_TRUE(b.snap);
  const auto entries = b.catalogue();
  EXPECT_EQ(ids(entries), (std::vector<std::string>{"Qwen2.5-0.5B-Instruct", "llama-3"}));
  // llama-3: only the discovering service, both of its servers.
  const auto& llama = find(entries, "llama-3");
  EXPECT_EQ(llama.services, std::vector<std::string>{"gpus"});
  EXPECT_EQ(urls(llama), (std::vector<std::string>{"http://127.0.0.1:9001", "http://127.0.0.1:9002"}));
  // Qwen: the ModelRegexp router's service (first: it has the higher priority), and the server
  // of the discovering service that lists it.
  const auto& qwen = find(entries, "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(qwen.services, (std::vector<std::string>{"fixed", "gpus"}));
  EXPECT_EQ(urls(qwen), (std::vector<std::string>{"http://127.0.0.1:9003", "http://127.0.0.1:9001"}));
}

TEST(Catalogue, HealthIsLiveAndOneUrlInTwoServicesIsOneServer) {
  Built b(kRules);
  ASSERT_TRUE(b.snap);
  const auto entries = b.catalogue();
  // 9002 is in both services: glm4 is held by it alone.
  for (const auto& svc : b.snap->services) {
    for (const auto& s : svc.servers) {
      if (s->spec.url == "http://127.0.0.1:9002") s->healthy.store(false);
    }
  }
  const std::string glm = mr::render_model(find(entries, "glm4-9b-chat"), kNow);
  EXPECT_NE(glm.find(R"("servers":0)"), std::string::npos) << glm;
  EXPECT_NE(glm.find(R"("available":false}})"), std::string::npos) << glm;
  const std::string qwen = mr::render_model(find(entries, "Qwen2.5-0.5B-Instruct"), kNow);
  EXPECT_NE(qwen.find(R"("servers":1)"), std::string::npos) << qwen;
  EXPECT_NE(qwen.find(R"({"url":"http://127.0.0.1:9002","available":false})"), std::string::npos) << qwen;
  EXPECT_NE(qwen.find(R"("available":true}})"), std::string::npos) << qwen;
}

TEST(Catalogue, ARouterThatNamesThePathTakesIt) {
  const std::string base = R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    chat: {rule: "Model(`m`)", service: s}
    models: {rule: "RULE", service: s}
  services:
    s: {loadBalancer: {servers: [{url: "http://127.0.0.1:9001"}]}}
)y";
  auto with_rule = [&](const std::string& rule) {
    std::string yaml = base;
    yaml.replace(yaml.find("RULE"), 4, rule);
    return yaml;
  };
  for (const char* claims : {"Path(`/v1/models`)", "PathPrefix(`/v1/models`)", "PathPrefix(`/v1/models/`)",
                             "Method(`GET`) && Path(`/v1/models`, `/v1/other`)"}) {
    Built b(with_rule(claims));
    ASSERT_TRUE(b.snap) << claims;
    EXPECT_FALSE(b.get("/v1/models")) << claims;
    EXPECT_FALSE(b.get("/v1/models/m")) << claims;
  }
  for (const char* leaves : {"PathPrefix(`/v1`)", "PathPrefix(`/`)", "!Path(`/v1/models`)",
                             "PathRegexp(`^/v1/models$`)", "Header(`X-Route`, `models`)"}) {
    Built b(with_rule(leaves));
    ASSERT_TRUE(b.snap) << leaves;
    auto a = b.get("/v1/models");
    ASSERT_TRUE(a) << leaves;
    EXPECT_EQ(a->status, 200);
  }
}

TEST(Catalogue, NotAnsweredWithoutModelRouting) {
  Built b(R"y(
entryPoints:
  web: {address: "127.0.0.1:0"}
http:
  routers:
    all: {rule: "PathPrefix(`/`)", service: s}
  services:
    s: {loadBalancer: {servers: [{url: "http://127.0.0.1:9001"}]}}
)y");
  ASSERT_TRUE(b.snap);
  EXPECT_FALSE(mr::answers_model_list(*b.snap, b.ep()));
  EXPECT_FALSE(b.get("/v1/models"));
}
