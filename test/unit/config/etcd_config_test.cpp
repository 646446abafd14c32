// The etcd provider's part of the configuration: Traefik's KV layout read into the same tree as a
// file (kv_layout.h), combined with the file (kv_merge.cpp), every problem named by its etcd key;
// and the providers.etcd section itself.
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "config/kv_layout.h"
#include "config/loader.h"
#include "diagnostics_text.h"

namespace modelgate::config {
namespace {

constexpr std::string_view kFile = R"yaml(entryPoints:
  web:
    address: ":8080"
http:
  services:
    local:
      loadBalancer:
        servers:
          - url: http://127.0.0.1:9001
)yaml";

LoadResult load_kv(const std::vector<KvPair>& pairs, std::string_view file = kFile) {
  const KvDocument doc = kv_document("traefik", pairs);
  return load_text(file, "gw.yaml", &doc);
}

using printed::all;
using printed::find;

TEST(KvLayout, OneKeyPerLineListsByIndexInNumericOrder) {
  const KvDocument doc = kv_document("traefik", {{"traefik/http/routers/a/entrypoints/10", "ten"},
                                                 {"traefik/http/routers/a/entrypoints/2", "two"},
                                                 {"traefik/http/routers/a/rule", "Path(`/\"x\"`)"},
                                                 {"other/http/routers/b/rule", "ignored"}});
  EXPECT_EQ(doc.text,
            "\"http\":\n"
            "  \"routers\":\n"
            "    \"a\":\n"
            "      \"entrypoints\":\n"
            "        - \"two\"\n"
            "        - \"ten\"\n"
            "      \"rule\": \"Path(`/\\\"x\\\"`)\"\n");
  EXPECT_EQ(doc.line_keys, (std::vector<std::string>{
                               "traefik/http", "traefik/http/routers", "traefik/http/routers/a",
                               "traefik/http/routers/a/entrypoints", "traefik/http/routers/a/entrypoints/2",
                               "traefik/http/routers/a/entrypoints/10", "traefik/http/routers/a/rule"}));
  EXPECT_TRUE(doc.diagnostics.empty());
}

TEST(KvLayout, KeysThatCannotFormATreeAreNamed) {
  const KvDocument doc = kv_document("traefik", {{"traefik/http/routers/a", "x"},
                                                 {"traefik/http/routers/a/rule", "Path(`/`)"},
                                                 {"traefik/http//services", "y"}});
  ASSERT_EQ(doc.diagnostics.size(), 2u);
  EXPECT_EQ(doc.diagnostics[0].str(),
            "etcd key traefik/http//services: error: the key has an empty segment (a doubled or trailing "
            "\"/\"), remove it");
  EXPECT_NE(doc.diagnostics[1].str().find("etcd key traefik/http/routers/a: error: the key has a value"),
            std::string::npos);
}

TEST(EtcdConfig, EveryFieldOfTheLayoutLandsInConfig) {
  const LoadResult r = load_kv({
      {"traefik/http/routers/chat/rule", "PathPrefix(`/v1`)"},
      {"traefik/http/routers/chat/service", "qwen@etcd"},
      {"traefik/http/routers/chat/entrypoints/0", "web"},
      {"traefik/http/routers/chat/priority", "42"},
      {"traefik/http/routers/chat/middlewares/0", "strip"},
      {"traefik/http/routers/old/rule", "PathPrefix(`/old`)"},
      {"traefik/http/routers/old/service", "local@file"},
      {"traefik/http/middlewares/strip/stripprefix/prefixes/0", "/api"},
      {"traefik/http/services/qwen/loadbalancer/strategy", "least_request"},
      {"traefik/http/services/qwen/loadbalancer/servers/0/url", "http://127.0.0.1:9002"},
      {"traefik/http/services/qwen/loadbalancer/servers/281474976710655/url", "http://127.0.0.1:9003"},
      {"traefik/http/services/qwen/loadbalancer/servers/281474976710655/weight", "3"},
      {"traefik/http/services/qwen/loadbalancer/healthcheck/path", "/health"},
      {"traefik/http/services/qwen/loadbalancer/healthcheck/interval", "2s"},
      {"traefik/http/services/qwen/loadbalancer/passhostheader", "false"},
      {"traefik/models/gpt-4o-mini/target", "Qwen2.5-0.5B-Instruct"},
      {"traefik/auth/keys/0/name", "team-a"},
      {"traefik/auth/keys/0/key", "sk-team-a-0123456789"},
      {"traefik/auth/keys/0/limits/requestsperminute", "5"},
  });
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);  // lowercase keys: no "spelled" warning
  const Config& c = *r.config;
  const Router& chat = c.routers.at("chat");
  EXPECT_EQ(chat.rule, "PathPrefix(`/v1`)");
  EXPECT_EQ(chat.service, "qwen");
  EXPECT_EQ(chat.entryPoints, std::vector<std::string>{"web"});
  EXPECT_EQ(chat.priority, 42);
  EXPECT_EQ(chat.middlewares, std::vector<std::string>{"strip"});
  EXPECT_EQ(c.routers.at("old").service, "local");
  ASSERT_TRUE(c.middlewares.count("strip"));
  const LoadBalancer& lb = c.services.at("qwen").loadBalancer;
  EXPECT_EQ(lb.strategy, "least_request");
  ASSERT_EQ(lb.servers.size(), 2u);
  EXPECT_EQ(lb.servers[0].url, "http://127.0.0.1:9002");
  EXPECT_EQ(lb.servers[1].weight, 3);
  EXPECT_TRUE(lb.healthCheck.enabled);
  EXPECT_EQ(lb.healthCheck.interval, std::chrono::seconds(2));
  EXPECT_FALSE(lb.passHostHeader);
  EXPECT_EQ(c.services.at("local").loadBalancer.servers.size(), 1u);  // the file's, kept
  EXPECT_EQ(c.models.at("gpt-4o-mini").target, "Qwen2.5-0.5B-Instruct");
  ASSERT_EQ(c.auth.keys.size(), 1u);
  EXPECT_EQ(c.auth.keys[0].name, "team-a");
  EXPECT_EQ(c.auth.keys[0].limits.requestsPerMinute, 5u);
}

TEST(EtcdConfig, AKeysListIsAppendedToTheFilesKeys) {
  std::string file(kFile);
  file += "auth:\n  keys:\n    - {name: file-key, key: sk-file-0123456789}\n";
  const LoadResult r = load_kv({{"traefik/auth/keys/0/name", "etcd-key"},
                                {"traefik/auth/keys/0/key", "sk-etcd-0123456789"}},
                               file);
  ASSERT_TRUE(r.config) << all(r);
  ASSERT_EQ(r.config->auth.keys.size(), 2u);
  EXPECT_EQ(r.config->auth.keys[0].name, "file-key");
  EXPECT_EQ(r.config->auth.keys[1].name, "etcd-key");
}

TEST(EtcdConfig, ABadValueIsNamedByItsKey) {
  const LoadResult r = load_kv({{"traefik/http/services/qwen/loadbalancer/servers/0/url", "http://127.0.0.1:9002"},
                                {"traefik/http/services/qwen/loadbalancer/servers/0/weight", "heavy"}});
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "weight"),
            "etcd key traefik/http/services/qwen/loadbalancer/servers/0/weight: error: "
            "http.services.qwen.loadbalancer.servers[0].weight: expected an integer, got \"heavy\"");
}

// Servers come and go under leases: a service of etcd's whose last server left is an empty pool,
// said in a warning; the same service in a file is still an error.
TEST(EtcdConfig, AServiceOfEtcdsWithoutServersIsAWarning) {
  const LoadResult r = load_kv({{"traefik/http/services/qwen/loadbalancer/strategy", "round_robin"}});
  ASSERT_TRUE(r.config);
  EXPECT_TRUE(r.config->services.at("qwen").loadBalancer.servers.empty());
  EXPECT_NE(find(r, "no server is listed (yet)").find("etcd key traefik/http/services/qwen/loadbalancer"),
            std::string::npos);
  EXPECT_NE(find(r, "no server is listed (yet)").find("warning"), std::string::npos);
}

TEST(EtcdConfig, AnUnknownKeyGetsADidYouMean) {
  const LoadResult r = load_kv({{"traefik/http/routers/chat/rul", "Path(`/`)"},
                                {"traefik/http/routers/chat/service", "local"}});
  EXPECT_FALSE(r.config);
  EXPECT_NE(find(r, "unknown key").find("etcd key traefik/http/routers/chat/rul: error: "
                                        "http.routers.chat: unknown key \"rul\", did you mean \"rule\"?"),
            std::string::npos)
      << all(r);
}

TEST(EtcdConfig, AReferenceAcrossProvidersIsCheckedOnTheWhole) {
  const LoadResult r = load_kv({{"traefik/http/routers/chat/rule", "Path(`/`)"},
                                {"traefik/http/routers/chat/service", "loca"}});
  EXPECT_FALSE(r.config);
  EXPECT_NE(find(r, "unknown service").find("etcd key traefik/http/routers/chat/service: error: "),
            std::string::npos);
  EXPECT_NE(find(r, "unknown service").find("did you mean \"local\"?"), std::string::npos);
}

TEST(EtcdConfig, ANameDefinedInTheFileAndInEtcdIsRefusedWithBothPlaces) {
  const LoadResult r = load_kv({{"traefik/http/services/local/loadbalancer/servers/0/url", "http://127.0.0.1:9"}});
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "also defined"),
            "etcd key traefik/http/services/local: error: http.services.local: \"local\" is also defined in "
            "gw.yaml:6:5; a name is defined in one place only, remove it from etcd or from the file");
}

TEST(EtcdConfig, FileOnlySectionsAndUnknownKeysAreRefusedTraefiksOthersWarned) {
  const LoadResult r = load_kv({{"traefik/entrypoints/web/address", ":9090"},
                                {"traefik/htp/routers/a/rule", "Path(`/`)"},
                                {"traefik/http/routes/a/rule", "Path(`/`)"},
                                {"traefik/auth/keysfile", "/tmp/keys.yaml"},
                                {"traefik/tcp/routers/a/rule", "HostSNI(`*`)"}});
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "entrypoints"),
            "etcd key traefik/entrypoints: error: entryPoints is read from the configuration file only, set "
            "it there (etcd may hold http routers, services, middlewares, serversTransports, models and auth "
            "keys)");
  EXPECT_EQ(find(r, "htp"), "etcd key traefik/htp: error: unknown key \"htp\", did you mean \"http\"?");
  EXPECT_EQ(find(r, "routes"),
            "etcd key traefik/http/routes: error: http: unknown key \"routes\", did you mean \"routers\"?");
  EXPECT_NE(find(r, "keysfile").find("etcd key traefik/auth/keysfile: error: auth.keysfile is read from"),
            std::string::npos);
  EXPECT_EQ(find(r, "tcp"),
            "etcd key traefik/tcp: warning: Traefik's tcp configuration is not read from etcd by modelgate and "
            "is ignored");
}

TEST(EtcdConfig, WithoutEtcdThePlacesAreTheFilesAsBefore) {
  const KvDocument empty = kv_document("traefik", {});
  const LoadResult r = load_text("entryPoints: {web: {address: \":8080\"}}\nhttp: {routers: {a: {rul: x}}}\n",
                                 "gw.yaml", &empty);
  EXPECT_FALSE(r.config);
  EXPECT_NE(find(r, "unknown key").find("gw.yaml:2:22: error:"), std::string::npos) << all(r);
}

TEST(EtcdProviderSection, EndpointsAndRootKey) {
  const LoadResult r = load_text(R"yaml(entryPoints: {web: {address: ":8080"}}
providers:
  etcd:
    endpoints: ["127.0.0.1:2379", "http://10.0.0.2:2379"]
    rootKey: "gateways/"
  docker: {}
)yaml",
                                 "gw.yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_TRUE(r.config->etcd.enabled);
  EXPECT_EQ(r.config->etcd.endpoints, (std::vector<std::string>{"127.0.0.1:2379", "10.0.0.2:2379"}));
  EXPECT_EQ(r.config->etcd.rootKey, "gateways");
  EXPECT_EQ(find(r, "docker"),
            "gw.yaml:6:3: warning: providers.docker: Traefik option \"docker\" is not implemented by modelgate "
            "and is ignored");
}

TEST(EtcdProviderSection, TraefiksDefaultsAndWhatIsRefused) {
  const LoadResult d = load_text("entryPoints: {web: {address: \":8080\"}}\nproviders: {etcd: {}}\n", "gw.yaml");
  ASSERT_TRUE(d.config) << all(d);
  EXPECT_EQ(d.config->etcd.endpoints, std::vector<std::string>{"127.0.0.1:2379"});
  EXPECT_EQ(d.config->etcd.rootKey, "traefik");
  EXPECT_FALSE(load_text("entryPoints: {web: {address: \":8080\"}}\n", "gw.yaml").config->etcd.enabled);

  const LoadResult r = load_text(R"yaml(entryPoints: {web: {address: ":8080"}}
providers:
  etcd:
    endpoints: ["https://127.0.0.1:2379", "nohost"]
    username: foo
    rootKey: ""
)yaml",
                                 "gw.yaml");
  EXPECT_FALSE(r.config);
  EXPECT_NE(find(r, "https").find("gw.yaml:4:17: error: providers.etcd.endpoints[0]: \"https://127.0.0.1:2379\": "
                                  "TLS to etcd is not supported"),
            std::string::npos);
  EXPECT_NE(find(r, "nohost").find("invalid etcd address \"nohost\""), std::string::npos);
  EXPECT_NE(find(r, "username").find("gw.yaml:5:15: error: providers.etcd.username: not supported"),
            std::string::npos);
  EXPECT_NE(find(r, "root key is empty"), "");
}

}  // namespace
}  // namespace modelgate::config
