// The YAML configuration loader: Traefik files load, every key lands in Config, and every problem
// is reported at once with its exact place (FILE:LINE:COL) and a hint at the fix.
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "config/loader.h"
#include "diagnostics_text.h"

namespace modelgate::config {
namespace {

using namespace std::chrono_literals;

// Raw strings below start with a newline for readability; it is not part of the file.
LoadResult load(std::string_view yaml) {
  if (yaml.starts_with('\n')) yaml.remove_prefix(1);
  return load_text(yaml, "test.yaml");
}

std::vector<std::string> lines_of(const LoadResult& r) {
  std::vector<std::string> out;
  for (const auto& d : r.diagnostics) out.push_back(d.str());
  return out;
}

using printed::all;
using printed::find;

int count(const LoadResult& r, Severity s) {
  int n = 0;
  for (const auto& d : r.diagnostics) n += d.severity == s;
  return n;
}

// A valid prefix for tests that are about one section only.
constexpr std::string_view kBase = R"yaml(
entryPoints:
  web:
    address: ":8080"
)yaml";

LoadResult load_with_base(std::string_view rest) {
  std::string text(kBase.substr(1));
  text += rest.starts_with('\n') ? rest.substr(1) : rest;
  return load_text(text, "test.yaml");
}

// ---------------------------------------------------------------------------------------------
// The two Traefik files of the seed article (10.200.19.x kept: the loader contacts nothing).

constexpr std::string_view kSeedHostRouting = R"yaml(
# traefik.yaml
api:
  insecure: true  # 启用 Web UI，供开发人员使用

log:
  level: DEBUG     # 启用详细日志输出

entryPoints:
  web:
    address: ":80"  # HTTP 入口点

providers:
  file:
    filename: /etc/traefik/traefik.yml  # 加载外部配置文件
    watch: true                         # 允许Traefik自动监视文件更改

# Enable health check ping
ping:
  entryPoint: web

# Traefik 配置部分，使用 file provider 加载静态路由
http:
  routers:
    router-vm02:
      rule: Host(`service1.example.com`)  # 外部请求的主机名
      service: service-vm02  # 指向 vm02 上的服务

    router-vm03:
      rule: Host(`service2.example.com`)
      service: service-vm03

  services:
    service-vm02:
      loadBalancer:
        servers:
#          - url: http://<VM02_IP>:8080  # 指向 vm02 上的服务（使用 IP 地址）如：10.200.19.3
          - url: http://10.200.19.3:8080

    service-vm03:
      loadBalancer:
        servers:
#          - url: http://<VM03_IP>:8080  # 指向 vm03 上的服务（使用 IP 地址）如：10.200.19.4
          - url: http://10.200.19.4:8080
)yaml";

constexpr std::string_view kSeedModelRouting = R"yaml(
api:
  insecure: true  # 启用 Web UI，供开发人员使用

log:
  level: DEBUG     # 启用详细日志输出

entryPoints:
  web:
    address: ":80"  # HTTP 入口点

providers:
  file:
    filename: /etc/traefik/traefik.yml  # 加载外部配置文件
    watch: true                         # 允许Traefik自动监视文件更改(暂时测试，不起作用)

# Enable health check ping
ping:
  entryPoint: web

# Traefik 配置部分，使用 file provider 加载静态路由
http:
  routers:
    router-qwen2:
      rule: "Host(`service.example.com`) && Header(`X-Model`, `Qwen2.5-0.5B-Instruct`)"  # 匹配 X-Model 为 Qwen2.5-0.5B-Instruct
      service: service-qwen2  # 指向轮询服务

    router-glm4:
      rule: "Host(`service.example.com`) && Header(`X-Model`, `glm4-9b-chat`)"  # 匹配 X-Model 为 glm4-9b-chat
      service: service-glm4  # 指向仅 vm03 服务

  services:
    # 轮询服务，适用于 Qwen2.5-0.5B-Instruct 模型
    service-qwen2:
      loadBalancer:
        servers:
          - url: http://10.200.19.3:8080  # 指向 vm02 上的服务
          - url: http://10.200.19.4:8080  # 指向 vm03 上的服务
        passHostHeader: false  # 不传递原始请求的 Host 头部

    # 仅路由到 vm03，适用于 glm4-9b-chat 模型
    service-glm4:
      loadBalancer:
        servers:
          - url: http://10.200.19.4:8080  # 只指向 vm03 上的服务
        passHostHeader: false  # 不传递原始请求的 Host 头部
)yaml";

TEST(ConfigSeed, HostRoutingLoadsWithOnlyApiAndFileProviderWarnings) {
  const LoadResult r = load(kSeedHostRouting);
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(lines_of(r), (std::vector<std::string>{
                             "test.yaml:2:1: warning: api: Traefik option \"api\" is not "
                             "implemented by modelgate and is ignored",
                             "test.yaml:13:3: warning: providers.file: Traefik option \"file\" is "
                             "not implemented by modelgate and is ignored"}));
  const Config& c = *r.config;
  EXPECT_EQ(c.log.level, "debug");
  ASSERT_EQ(c.entryPoints.size(), 1u);
  const EntryPoint& web = c.entryPoints.at("web");
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.host, "");
  EXPECT_EQ(web.port, 80);
  EXPECT_EQ(web.pos.line, 9);
  EXPECT_EQ(web.pos.column, 3);
  EXPECT_TRUE(c.ping.enabled);
  EXPECT_EQ(c.ping.entryPoint, "web");
  EXPECT_EQ(c.ping.path, "/ping");

  ASSERT_EQ(c.routers.size(), 2u);
  const Router& r02 = c.routers.at("router-vm02");
  EXPECT_EQ(r02.rule, "Host(`service1.example.com`)");
  EXPECT_EQ(r02.service, "service-vm02");
  EXPECT_TRUE(r02.entryPoints.empty());  // every entry point
  EXPECT_FALSE(r02.priority);
  EXPECT_EQ(r02.effectivePriority(), static_cast<int>(r02.rule.size()));
  EXPECT_EQ(r02.pos.line, 24);
  EXPECT_EQ(r02.pos.column, 5);
  EXPECT_EQ(r02.rulePos.line, 25);
  EXPECT_EQ(r02.rulePos.column, 13);  // plain scalar: its first character

  ASSERT_EQ(c.services.size(), 2u);
  const Service& s02 = c.services.at("service-vm02");
  EXPECT_EQ(s02.pos.line, 33);
  ASSERT_EQ(s02.loadBalancer.servers.size(), 1u);
  const Server& srv = s02.loadBalancer.servers[0];
  EXPECT_EQ(srv.url, "http://10.200.19.3:8080");
  EXPECT_EQ(srv.host, "10.200.19.3");
  EXPECT_EQ(srv.port, 8080);
  EXPECT_EQ(srv.basePath, "");
  EXPECT_EQ(srv.weight, 1);
  EXPECT_EQ(srv.hostHeader(), "10.200.19.3:8080");
  EXPECT_EQ(srv.pos.line, 37);
  EXPECT_EQ(srv.pos.column, 13);
  EXPECT_TRUE(s02.loadBalancer.passHostHeader);
  EXPECT_EQ(c.services.at("service-vm03").loadBalancer.servers[0].host, "10.200.19.4");
}

TEST(ConfigSeed, ModelRoutingLoadsWithOnlyApiAndFileProviderWarnings) {
  const LoadResult r = load(kSeedModelRouting);
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(count(r, Severity::error), 0);
  ASSERT_EQ(count(r, Severity::warning), 2) << all(r);
  EXPECT_EQ(r.diagnostics[0].str(),
            "test.yaml:1:1: warning: api: Traefik option \"api\" is not implemented by modelgate "
            "and is ignored");
  EXPECT_EQ(r.diagnostics[1].line, 12);
  EXPECT_NE(r.diagnostics[1].message.find("providers.file"), std::string::npos);

  const Config& c = *r.config;
  const Router& q = c.routers.at("router-qwen2");
  EXPECT_EQ(q.rule, "Host(`service.example.com`) && Header(`X-Model`, `Qwen2.5-0.5B-Instruct`)");
  EXPECT_EQ(q.rulePos.line, 24);
  EXPECT_EQ(q.rulePos.column, 14);  // after the opening quote
  const Service& qwen = c.services.at("service-qwen2");
  ASSERT_EQ(qwen.loadBalancer.servers.size(), 2u);
  EXPECT_FALSE(qwen.loadBalancer.passHostHeader);
  EXPECT_EQ(qwen.loadBalancer.servers[1].url, "http://10.200.19.4:8080");
  EXPECT_FALSE(c.services.at("service-glm4").loadBalancer.passHostHeader);
}

// ---------------------------------------------------------------------------------------------
// Every key

TEST(ConfigFull, EveryKeyLandsInConfig) {
  const LoadResult r = load(R"yaml(
log: {level: warn}
ping: {entryPoint: web, path: /healthz}
admin: {address: "127.0.0.1:9191", token: s3cret, enabled: true}
accessLog: {path: /var/log/mg.log, format: json, fields: [model, status, duration]}
usage: passthrough
shutdown: {drainTimeout: 45s, acceptGrace: 3s}
entryPoints:
  web:
    address: "0.0.0.0:8080"
    timeouts: {readHeader: 5s, readBody: 30s, idle: 2m}
    limits: {maxHeaderBytes: 32KiB, maxHeaders: 64, maxBodyBytes: 8MiB}
    upstreamHeader: true
  internal:
    address: "[::1]:0"
http:
  routers:
    chat:
      rule: "PathPrefix(`/v1`) && Model(`glm4-9b-chat`)"
      service: gpu
      priority: 100
      entryPoints: [web, internal]
      upstreamHeader: true
  services:
    gpu:
      loadBalancer:
        servers:
          - url: http://10.0.0.3:8080/base/
            weight: 3
            maxConnections: 8
          - url: "http://[fd00::4]:9000"
            weight: 0
            backup: true
            drain: true
          - url: http://gpu-5.internal
        passHostHeader: false
        strategy: consistent_hash
        hashKey: header:X-Session
        healthCheck: {path: /health/ready, interval: 5s, timeout: 1500ms, expectStatus: 204, rise: 3, fall: 4}
        passiveHealth: {consecutiveFailures: 7, baseEjection: 1m, maxEjectionPercent: 30, endOnActiveCheck: false}
        retry: {attempts: 3, retryOn: [500, 502, 504], budgetPercent: 10}
        timeouts: {connect: 2s, responseHeader: 10m, streamIdle: 1m30s, total: 1h, idleConnection: 2500ms}
        discoverModels: {interval: 30s, path: /models}
models:
  gpt-4o-mini: {target: Qwen2.5-0.5B-Instruct}
  glm4-9b-chat: {fallbacks: [Qwen2.5-0.5B-Instruct, other]}
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.log.level, "warn");
  EXPECT_TRUE(c.ping.enabled);
  EXPECT_EQ(c.ping.path, "/healthz");
  EXPECT_EQ(c.admin.host, "127.0.0.1");
  EXPECT_EQ(c.admin.port, 9191);
  EXPECT_EQ(c.admin.token, "s3cret");
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_TRUE(c.accessLog.enabled);
  EXPECT_EQ(c.accessLog.path, "/var/log/mg.log");
  EXPECT_EQ(c.accessLog.format, "json");
  EXPECT_EQ(c.accessLog.fields, (std::vector<std::string>{"model", "status", "duration"}));
  EXPECT_EQ(c.usage, "passthrough");
  EXPECT_EQ(c.shutdown.drainTimeout, 45s);
  EXPECT_EQ(c.shutdown.acceptGrace, 3s);

  const EntryPoint& web = c.entryPoints.at("web");
  EXPECT_EQ(web.host, "0.0.0.0");
  EXPECT_EQ(web.port, 8080);
  EXPECT_EQ(web.timeouts.readHeader, 5s);
  EXPECT_EQ(web.timeouts.readBody, 30s);
  EXPECT_EQ(web.timeouts.idle, 120s);
  EXPECT_EQ(web.limits.maxHeaderBytes, 32u * 1024);
  EXPECT_EQ(web.limits.maxHeaders, 64u);
  EXPECT_EQ(web.limits.maxBodyBytes, 8u * 1024 * 1024);
  EXPECT_TRUE(web.upstreamHeader);
  const EntryPoint& internal = c.entryPoints.at("internal");
  EXPECT_EQ(internal.host, "::1");
  EXPECT_EQ(internal.port, 0);

  const Router& chat = c.routers.at("chat");
  EXPECT_EQ(chat.priority, 100);
  EXPECT_EQ(chat.effectivePriority(), 100);
  EXPECT_EQ(chat.entryPoints, (std::vector<std::string>{"web", "internal"}));
  EXPECT_TRUE(chat.upstreamHeader);

  const LoadBalancer& lb = c.services.at("gpu").loadBalancer;
  ASSERT_EQ(lb.servers.size(), 3u);
  EXPECT_EQ(lb.servers[0].host, "10.0.0.3");
  EXPECT_EQ(lb.servers[0].basePath, "/base");
  EXPECT_EQ(lb.servers[0].weight, 3);
  EXPECT_EQ(lb.servers[0].maxConnections, 8);
  EXPECT_EQ(lb.servers[1].host, "fd00::4");
  EXPECT_EQ(lb.servers[1].port, 9000);
  EXPECT_EQ(lb.servers[1].hostHeader(), "[fd00::4]:9000");
  EXPECT_EQ(lb.servers[1].weight, 0);
  EXPECT_TRUE(lb.servers[1].backup);
  EXPECT_TRUE(lb.servers[1].drain);
  EXPECT_EQ(lb.servers[2].host, "gpu-5.internal");
  EXPECT_EQ(lb.servers[2].port, 80);
  EXPECT_EQ(lb.servers[2].hostHeader(), "gpu-5.internal");
  EXPECT_FALSE(lb.passHostHeader);
  EXPECT_EQ(lb.strategy, "consistent_hash");
  EXPECT_EQ(lb.hashKey, "header:X-Session");
  EXPECT_TRUE(lb.healthCheck.enabled);
  EXPECT_EQ(lb.healthCheck.path, "/health/ready");
  EXPECT_EQ(lb.healthCheck.interval, 5s);
  EXPECT_EQ(lb.healthCheck.timeout, 1500ms);
  EXPECT_EQ(lb.healthCheck.expectStatus, 204);
  EXPECT_EQ(lb.healthCheck.rise, 3);
  EXPECT_EQ(lb.healthCheck.fall, 4);
  EXPECT_EQ(lb.passiveHealth.consecutiveFailures, 7);
  EXPECT_EQ(lb.passiveHealth.baseEjection, 60s);
  EXPECT_EQ(lb.passiveHealth.maxEjectionPercent, 30);
  EXPECT_FALSE(lb.passiveHealth.endOnActiveCheck);
  EXPECT_EQ(lb.retry.attempts, 3);
  EXPECT_EQ(lb.retry.retryOn, (std::vector<int>{500, 502, 504}));
  EXPECT_EQ(lb.retry.budgetPercent, 10);
  EXPECT_EQ(lb.timeouts.connect, 2s);
  EXPECT_EQ(lb.timeouts.responseHeader, 600s);
  EXPECT_EQ(lb.timeouts.streamIdle, 90s);
  EXPECT_EQ(lb.timeouts.total, 3600s);
  EXPECT_EQ(lb.timeouts.idleConnection, 2500ms);
  EXPECT_TRUE(lb.discoverModels.enabled);
  EXPECT_EQ(lb.discoverModels.interval, 30s);
  EXPECT_EQ(lb.discoverModels.path, "/models");

  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models.at("gpt-4o-mini").target, "Qwen2.5-0.5B-Instruct");
  EXPECT_EQ(c.models.at("gpt-4o-mini").pos.line, 44);
  EXPECT_EQ(c.models.at("gpt-4o-mini").pos.column, 3);
  EXPECT_EQ(c.models.at("glm4-9b-chat").fallbacks,
            (std::vector<std::string>{"Qwen2.5-0.5B-Instruct", "other"}));
}

TEST(ConfigFull, DefaultsApplyWhenKeysAreAbsent) {
  const LoadResult r = load(R"yaml(
entryPoints:
  web: {address: ":8080"}
http:
  routers:
    all: {rule: "PathPrefix(`/`)", service: s}
  services:
    s:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:8001"}]
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  const Config& c = *r.config;
  EXPECT_EQ(c.log.level, "info");
  EXPECT_FALSE(c.ping.enabled);
  EXPECT_FALSE(c.accessLog.enabled);
  EXPECT_EQ(c.admin.host, "127.0.0.1");
  EXPECT_EQ(c.admin.port, 9090);
  EXPECT_TRUE(c.admin.enabled);
  EXPECT_EQ(c.usage, "inject");
  EXPECT_EQ(c.shutdown.drainTimeout, 30s);
  EXPECT_EQ(c.shutdown.acceptGrace, 0s);
  const EntryPoint& web = c.entryPoints.at("web");
  EXPECT_EQ(web.timeouts.readHeader, 10s);
  EXPECT_EQ(web.timeouts.readBody, 60s);
  EXPECT_EQ(web.timeouts.idle, 60s);
  EXPECT_EQ(web.limits.maxHeaderBytes, 16384u);
  EXPECT_EQ(web.limits.maxHeaders, 100u);
  EXPECT_EQ(web.limits.maxBodyBytes, 32u * 1024 * 1024);
  EXPECT_FALSE(web.upstreamHeader);
  const LoadBalancer& lb = c.services.at("s").loadBalancer;
  EXPECT_TRUE(lb.passHostHeader);
  EXPECT_EQ(lb.strategy, "round_robin");
  EXPECT_EQ(lb.hashKey, "client_ip");
  EXPECT_FALSE(lb.healthCheck.enabled);
  EXPECT_EQ(lb.healthCheck.path, "/health");
  EXPECT_EQ(lb.healthCheck.interval, 10s);
  EXPECT_EQ(lb.healthCheck.timeout, 2s);
  EXPECT_EQ(lb.healthCheck.expectStatus, 200);
  EXPECT_EQ(lb.passiveHealth.consecutiveFailures, 5);
  EXPECT_EQ(lb.passiveHealth.maxEjectionPercent, 50);
  EXPECT_TRUE(lb.passiveHealth.endOnActiveCheck);
  EXPECT_EQ(lb.retry.attempts, 2);
  EXPECT_EQ(lb.retry.retryOn, (std::vector<int>{502, 503}));
  EXPECT_EQ(lb.timeouts.connect, 5s);
  EXPECT_EQ(lb.timeouts.responseHeader, 300s);
  EXPECT_EQ(lb.timeouts.streamIdle, 120s);
  EXPECT_EQ(lb.timeouts.total, 0ms);
  EXPECT_EQ(lb.timeouts.idleConnection, 4s);
  EXPECT_FALSE(lb.discoverModels.enabled);
  EXPECT_EQ(lb.servers[0].weight, 1);
  EXPECT_FALSE(lb.servers[0].backup);
  EXPECT_EQ(lb.servers[0].maxConnections, 0);
}

TEST(ConfigFull, PresenceEnablesSections) {
  const LoadResult r = load_with_base(R"yaml(
ping:
accessLog: {}
http:
  services:
    s:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:8001"}]
        healthCheck: {}
        discoverModels: true
    t:
      loadBalancer:
        servers: [{url: "http://127.0.0.1:8002"}]
        discoverModels:
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_TRUE(r.config->ping.enabled);
  EXPECT_EQ(r.config->ping.entryPoint, "");
  EXPECT_TRUE(r.config->accessLog.enabled);
  EXPECT_EQ(r.config->accessLog.format, "common");
  const LoadBalancer& s = r.config->services.at("s").loadBalancer;
  EXPECT_TRUE(s.healthCheck.enabled);
  EXPECT_TRUE(s.discoverModels.enabled);
  EXPECT_EQ(s.discoverModels.path, "/v1/models");
  EXPECT_TRUE(r.config->services.at("t").loadBalancer.discoverModels.enabled);
}

TEST(ConfigFull, TraefikSpellingsAreAccepted) {
  const LoadResult r = load(R"yaml(
log: {level: fatal}
entryPoints:
  web: {address: ":80/tcp"}
accessLog: {filePath: /tmp/access.log}
http:
  routers:
    r: {rule: "Path(`/`)", service: s@file}
  services:
    s:
      loadBalancer:
        strategy: wrr
        servers: [{url: "http://10.0.0.1"}]
        healthCheck: {status: 204}
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  EXPECT_EQ(r.config->log.level, "error");
  EXPECT_EQ(r.config->entryPoints.at("web").port, 80);
  EXPECT_EQ(r.config->accessLog.path, "/tmp/access.log");
  EXPECT_EQ(r.config->routers.at("r").service, "s");
  EXPECT_EQ(r.config->services.at("s").loadBalancer.strategy, "weighted_round_robin");
  EXPECT_EQ(r.config->services.at("s").loadBalancer.healthCheck.expectStatus, 204);
}

TEST(ConfigFull, LogLevelsIgnoreCase) {
  for (auto [in, out] : std::vector<std::pair<std::string, std::string>>{
           {"TRACE", "trace"}, {"Debug", "debug"}, {"INFO", "info"}, {"WARN", "warn"},
           {"ERROR", "error"}, {"FATAL", "error"}, {"PANIC", "error"}, {"off", "off"}}) {
    const LoadResult r = load_with_base("log: {level: " + in + "}\n");
    ASSERT_TRUE(r.config) << in << "\n" << all(r);
    EXPECT_EQ(r.config->log.level, out) << in;
  }
}

TEST(ConfigFull, KeyInAnotherCaseIsAcceptedWithAWarning) {
  const LoadResult r = load(R"yaml(
entrypoints:
  web:
    Address: ":8080"
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(r.config->entryPoints.at("web").port, 8080);
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:1:1: warning: \"entrypoints\" is spelled \"entryPoints\" (accepted, as "
                "Traefik ignores case)",
                "test.yaml:3:5: warning: entrypoints.web: \"Address\" is spelled \"address\" "
                "(accepted, as Traefik ignores case)"}));
}

// ---------------------------------------------------------------------------------------------
// Values

TEST(ConfigValues, Durations) {
  EXPECT_EQ(parse_duration("500ms"), 500ms);
  EXPECT_EQ(parse_duration("2s"), 2s);
  EXPECT_EQ(parse_duration("5m"), 300s);
  EXPECT_EQ(parse_duration("1h"), 3600s);
  EXPECT_EQ(parse_duration("1m30s"), 90s);
  EXPECT_EQ(parse_duration("1h2m3s4ms"), 3723004ms);
  EXPECT_EQ(parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(parse_duration("0.25m"), 15s);
  EXPECT_EQ(parse_duration("10"), 10s);  // bare integer: seconds, as Traefik
  EXPECT_EQ(parse_duration("0"), 0ms);
  EXPECT_EQ(parse_duration("0s"), 0ms);
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("s"));
  EXPECT_FALSE(parse_duration("10x"));
  EXPECT_FALSE(parse_duration("-1s"));
  EXPECT_FALSE(parse_duration("1.5"));
  EXPECT_FALSE(parse_duration("1 s"));
  EXPECT_FALSE(parse_duration("100us"));  // below a millisecond: not a config unit
  EXPECT_FALSE(parse_duration("1d"));
  EXPECT_FALSE(parse_duration("99999999999999999999s"));
  EXPECT_FALSE(parse_duration("99999999999999999999"));
}

TEST(ConfigValues, Sizes) {
  auto limit = [](std::string_view v) -> std::optional<std::size_t> {
    const LoadResult r =
        load_text("entryPoints: {web: {address: \":80\", limits: {maxBodyBytes: " + std::string(v) +
                      "}}}\n",
                  "test.yaml");
    if (!r.config) return std::nullopt;
    return r.config->entryPoints.at("web").limits.maxBodyBytes;
  };
  EXPECT_EQ(limit("33554432"), 33554432u);
  EXPECT_EQ(limit("32MiB"), 32u << 20);
  EXPECT_EQ(limit("16KiB"), 16u << 10);
  EXPECT_EQ(limit("1GiB"), 1u << 30);
  EXPECT_EQ(limit("1MB"), 1000000u);
  EXPECT_EQ(limit("2kb"), 2000u);
  EXPECT_EQ(limit("100B"), 100u);
  EXPECT_EQ(limit("\"4 MiB\""), 4u << 20);
  EXPECT_FALSE(limit("0"));
  EXPECT_FALSE(limit("-1"));
  EXPECT_FALSE(limit("1.5MiB"));
  EXPECT_FALSE(limit("12QB"));
  EXPECT_FALSE(limit("MiB"));
}

// ---------------------------------------------------------------------------------------------
// Diagnostics, one kind at a time

TEST(ConfigDiagnostics, YamlSyntaxErrorHasItsPlace) {
  const LoadResult r = load(R"yaml(
entryPoints:
  web:
    address: [":8080"
http: {}
)yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].str(),
            "test.yaml:4:1: error: invalid YAML: end of sequence flow not found");
}

TEST(ConfigDiagnostics, TabIndentationIsASyntaxError) {
  const LoadResult r = load("entryPoints:\n\tweb: {address: \":80\"}\n");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].line, 2);
  EXPECT_NE(r.diagnostics[0].message.find("invalid YAML"), std::string::npos);
}

TEST(ConfigDiagnostics, MaxHeadersAboveWhatTheParserHoldsIsRefused) {
  const LoadResult r = load("entryPoints:\n  web: {address: \":80\", limits: {maxHeaders: 101}}\n");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].line, 2);
  EXPECT_NE(r.diagnostics[0].message.find("101 is out of range, expected 1 to 100"), std::string::npos)
      << all(r);
}

TEST(ConfigDiagnostics, UnknownKeyWithSuggestion) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    qwen:
      loadBalancer:
        sever:
          - url: http://10.0.0.3:8080
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "sever"),
            "test.yaml:8:9: error: http.services.qwen.loadBalancer: unknown key \"sever\", did you "
            "mean \"servers\"?");
  // The service then has no servers: also reported.
  EXPECT_EQ(find(r, "missing \"servers\""),
            "test.yaml:8:9: error: http.services.qwen.loadBalancer: missing \"servers\", expected "
            "at least one server, e.g. servers: [{url: \"http://10.0.0.3:8080\"}]");
}

TEST(ConfigDiagnostics, UnknownKeyWithoutCloseMatchListsTheValidKeys) {
  const LoadResult r = load_with_base(R"yaml(
shutdown: {linger: 5s}
)yaml");
  EXPECT_EQ(find(r, "linger"),
            "test.yaml:4:12: error: shutdown: unknown key \"linger\", expected one of "
            "\"drainTimeout\" or \"acceptGrace\"");
}

TEST(ConfigDiagnostics, UnknownTopLevelKey) {
  const LoadResult r = load_with_base("modles: {}\n");
  EXPECT_EQ(find(r, "modles"),
            "test.yaml:4:1: error: unknown top-level key \"modles\", did you mean \"models\"?");
}

TEST(ConfigDiagnostics, TraefikOptionsAreWarnings) {
  const LoadResult r = load(R"yaml(
api: {dashboard: true}
providers: {file: {filename: x}}
certificatesResolvers: {le: {}}
experimental: {}
metrics: {prometheus: {}}
tracing: {}
serversTransport: {insecureSkipVerify: true}
global: {checkNewVersion: false}
hostResolver: {}
udp: {}
tls: {}
accessLog: {}
entryPoints:
  web:
    address: ":80"
    http: {redirections: {}}
    transport: {}
    forwardedHeaders: {insecure: true}
    proxyProtocol: {}
    http2: {}
    http3: {}
    udp: {}
    asDefault: true
http:
  middlewares: {auth: {compress: {}}}
  serversTransports: {t: {}}
  routers:
    r:
      rule: "Path(`/`)"
      service: s
      middlewares: [auth]
      tls: {}
      observability: {}
      ruleSyntax: v3
  services:
    s:
      loadBalancer:
        servers: [{url: "http://10.0.0.1"}]
        sticky: {cookie: {}}
        serversTransport: t
        responseForwarding: {flushInterval: 1ms}
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(count(r, Severity::error), 0);
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"1:1", "api"},
      {"2:13", "providers.file"},
      {"3:1", "certificatesResolvers"},
      {"4:1", "experimental"},
      {"5:1", "metrics"},
      {"6:1", "tracing"},
      {"7:1", "serversTransport"},
      {"8:1", "global"},
      {"9:1", "hostResolver"},
      {"10:1", "udp"},
      {"16:12", "entryPoints.web.http.redirections"},
      {"17:5", "entryPoints.web.transport"},
      {"18:5", "entryPoints.web.forwardedHeaders"},
      {"19:5", "entryPoints.web.proxyProtocol"},
      {"20:5", "entryPoints.web.http2"},
      {"21:5", "entryPoints.web.http3"},
      {"22:5", "entryPoints.web.udp"},
      {"23:5", "entryPoints.web.asDefault"},
      {"25:24", "http.middlewares.auth.compress"},
      {"32:7", "http.routers.r.tls"},
      {"33:7", "http.routers.r.observability"},
      {"34:7", "http.routers.r.ruleSyntax"},
      {"39:9", "http.services.s.loadBalancer.sticky"},
      {"41:9", "http.services.s.loadBalancer.responseForwarding"},
  };
  ASSERT_EQ(r.diagnostics.size(), expected.size()) << all(r);
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto& [place, path] = expected[i];
    const std::string option = path.substr(path.rfind('.') + 1);
    EXPECT_EQ(r.diagnostics[i].str(),
              "test.yaml:" + place + ": warning: " + path + ": Traefik option \"" + option +
                  "\" is not implemented by modelgate and is ignored");
  }
}

TEST(ConfigDiagnostics, WrongTypes) {
  const LoadResult r = load_with_base(R"yaml(
http:
  routers:
    - rule: x
  services:
    s:
      loadBalancer:
        servers: {url: "http://10.0.0.1"}
        passHostHeader: maybe
        retry: {attempts: abc}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "http.routers:"),
            "test.yaml:6:5: error: http.routers: expected a map of routers such as {NAME: {rule: "
            "..., service: ...}}, got a list");
  EXPECT_EQ(find(r, "servers:"),
            "test.yaml:10:18: error: http.services.s.loadBalancer.servers: expected a list of "
            "servers such as [{url: \"http://10.0.0.3:8080\"}], got a map");
  EXPECT_EQ(find(r, "passHostHeader"),
            "test.yaml:11:25: error: http.services.s.loadBalancer.passHostHeader: expected true or "
            "false, got \"maybe\"");
  EXPECT_EQ(find(r, "attempts"),
            "test.yaml:12:27: error: http.services.s.loadBalancer.retry.attempts: expected an "
            "integer, got \"abc\"");
}

TEST(ConfigDiagnostics, RangesOfNumbers) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    s:
      loadBalancer:
        servers: [{url: "http://10.0.0.1", weight: -1}]
        healthCheck: {rise: 0, expectStatus: 42}
        passiveHealth: {maxEjectionPercent: 101}
        retry: {retryOn: [502, 600]}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "weight"),
            "test.yaml:8:52: error: http.services.s.loadBalancer.servers[0].weight: -1 is out of "
            "range, expected 0 or more");
  EXPECT_EQ(find(r, "rise"),
            "test.yaml:9:29: error: http.services.s.loadBalancer.healthCheck.rise: 0 is out of "
            "range, expected 1 or more");
  EXPECT_EQ(find(r, "expectStatus"),
            "test.yaml:9:46: error: http.services.s.loadBalancer.healthCheck.expectStatus: 42 is "
            "not an HTTP status, expected 100 to 599 (or 0 for any 2xx/3xx)");
  EXPECT_EQ(find(r, "maxEjectionPercent"),
            "test.yaml:10:45: error: http.services.s.loadBalancer.passiveHealth.maxEjectionPercent: "
            "101 is out of range, expected 0 to 100");
  EXPECT_EQ(find(r, "retryOn"),
            "test.yaml:11:32: error: http.services.s.loadBalancer.retry.retryOn[1]: 600 is not an "
            "HTTP status, expected 100 to 599");
}

TEST(ConfigDiagnostics, RouterReferencesUnknownServiceAndEntryPoint) {
  const LoadResult r = load_with_base(R"yaml(
http:
  routers:
    r:
      rule: "Path(`/`)"
      service: qwne
      entryPoints: [web, websecure]
  services:
    qwen:
      loadBalancer: {servers: [{url: "http://10.0.0.1"}]}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:8:16: error: http.routers.r.service: unknown service \"qwne\", did you "
                "mean \"qwen\"?",
                "test.yaml:9:26: error: http.routers.r.entryPoints[1]: unknown entry point "
                "\"websecure\", expected one of the entry points \"web\""}));
}

TEST(ConfigDiagnostics, RouterMissingRuleAndService) {
  const LoadResult r = load_with_base(R"yaml(
http:
  routers:
    r: {priority: 1}
)yaml");
  EXPECT_EQ(find(r, "missing \"rule\""),
            "test.yaml:6:5: error: http.routers.r: missing \"rule\", expected e.g. rule: "
            "\"PathPrefix(`/v1`)\"");
  EXPECT_EQ(find(r, "missing \"service\""),
            "test.yaml:6:5: error: http.routers.r: missing \"service\", expected the name of a "
            "service defined under http.services");
}

TEST(ConfigDiagnostics, ServiceWithoutServers) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    a:
      loadBalancer:
        servers: []
    b: {}
    c:
      weighted: {services: []}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "services.a"),
            "test.yaml:8:18: error: http.services.a.loadBalancer.servers: no server is listed, "
            "expected at least one, e.g. servers: [{url: \"http://10.0.0.3:8080\"}]");
  EXPECT_EQ(find(r, "services.b"),
            "test.yaml:9:5: error: http.services.b: missing \"loadBalancer\", expected e.g. "
            "loadBalancer: {servers: [{url: \"http://10.0.0.3:8080\"}]}");
  EXPECT_EQ(find(r, "services.c"),
            "test.yaml:11:17: error: http.services.c.weighted: Traefik service type \"weighted\" is "
            "not supported by modelgate, use loadBalancer");
}

TEST(ConfigDiagnostics, BadServerUrls) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    s:
      loadBalancer:
        servers:
          - url: https://10.0.0.1:99999
          - url: 10.0.0.2:8080
          - url: http://10.0.0.3:99999
          - url: http://:8080
          - url: http://10.0.0.4:8080?x=1
          - url: "http://::1:8080"
          - url: ftp://10.0.0.5
          - weight: 2
          - http://10.0.0.6
)yaml");
  EXPECT_FALSE(r.config);
  const std::string expect = ", expected \"http[s]://HOST[:PORT][/PATH]\"";
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:9:18: error: http.services.s.loadBalancer.servers[0].url: invalid "
                "server URL \"https://10.0.0.1:99999\": the port 99999 is above 65535" + expect,
                "test.yaml:10:18: error: http.services.s.loadBalancer.servers[1].url: invalid "
                "server URL \"10.0.0.2:8080\": the scheme is missing" + expect,
                "test.yaml:11:18: error: http.services.s.loadBalancer.servers[2].url: invalid "
                "server URL \"http://10.0.0.3:99999\": the port 99999 is above 65535" + expect,
                "test.yaml:12:18: error: http.services.s.loadBalancer.servers[3].url: invalid "
                "server URL \"http://:8080\": the host is missing" + expect,
                "test.yaml:13:18: error: http.services.s.loadBalancer.servers[4].url: invalid "
                "server URL \"http://10.0.0.4:8080?x=1\": a query or fragment is not allowed" + expect,
                "test.yaml:14:18: error: http.services.s.loadBalancer.servers[5].url: invalid "
                "server URL \"http://::1:8080\": an IPv6 address must be written in brackets, e.g. "
                "[::1]:8080" + expect,
                "test.yaml:15:18: error: http.services.s.loadBalancer.servers[6].url: invalid "
                "server URL \"ftp://10.0.0.5\": the scheme \"ftp\" is not supported" + expect,
                "test.yaml:16:13: error: http.services.s.loadBalancer.servers[7]: missing \"url\", "
                "expected e.g. url: \"http://10.0.0.3:8080\"",
                "test.yaml:17:13: error: http.services.s.loadBalancer.servers[8]: expected a server "
                "such as {url: \"http://10.0.0.3:8080\"}, got \"http://10.0.0.6\""}));
}

TEST(ConfigDiagnostics, DuplicateServerUrl) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    s:
      loadBalancer:
        servers:
          - url: http://10.0.0.1
          - url: http://10.0.0.2:8080
          - url: http://10.0.0.1:80/
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(lines_of(r), (std::vector<std::string>{
                             "test.yaml:11:18: error: http.services.s.loadBalancer.servers[2].url: "
                             "duplicate server \"http://10.0.0.1:80/\", the same server is already "
                             "listed on line 9"}));
}

TEST(ConfigDiagnostics, InvalidDurations) {
  const LoadResult r = load_with_base(R"yaml(
shutdown: {drainTimeout: soon}
http:
  services:
    s:
      loadBalancer:
        servers: [{url: "http://10.0.0.1"}]
        timeouts:
          connect: 0s
          total: 5 minutes
)yaml");
  EXPECT_FALSE(r.config);
  const std::string expect =
      ", expected a number with a unit such as \"500ms\", \"2s\", \"5m\", \"1h\" or \"1m30s\" (a "
      "bare number is seconds)";
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:4:26: error: shutdown.drainTimeout: invalid duration \"soon\"" + expect,
                "test.yaml:11:20: error: http.services.s.loadBalancer.timeouts.connect: the "
                "duration must be more than 0",
                "test.yaml:12:18: error: http.services.s.loadBalancer.timeouts.total: invalid "
                "duration \"5 minutes\"" + expect}));
}

TEST(ConfigDiagnostics, PingEntryPointUnknown) {
  const LoadResult r = load_with_base("ping: {entryPoint: traefik}\n");
  EXPECT_EQ(lines_of(r), (std::vector<std::string>{
                             "test.yaml:4:20: error: ping.entryPoint: unknown entry point "
                             "\"traefik\", expected one of the entry points \"web\""}));
}

TEST(ConfigDiagnostics, StrategyAndHashKey) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    a:
      loadBalancer:
        servers: [{url: "http://10.0.0.1"}]
        strategy: least_requests
        hashKey: "header:"
    b:
      loadBalancer:
        servers: [{url: "http://10.0.0.1"}]
        hashKey: cookie:session
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:9:19: error: http.services.a.loadBalancer.strategy: unknown strategy "
                "\"least_requests\", did you mean \"least_request\"?",
                "test.yaml:10:18: error: http.services.a.loadBalancer.hashKey: invalid hashKey "
                "\"header:\", expected client_ip, header:NAME, cookie:NAME or body:FIELD",
                "test.yaml:14:18: warning: http.services.b.loadBalancer.hashKey: hashKey is only "
                "used by the consistent_hash and session strategies, this service uses round_robin"}));
}

// ip_hash always hashes the client's address: any other hashKey would be silently ignored.
TEST(ConfigDiagnostics, HashKeyWithIpHash) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    a:
      loadBalancer:
        servers: [{url: "http://10.0.0.1"}]
        strategy: ip_hash
        hashKey: header:X-Session
    b:
      loadBalancer:
        servers: [{url: "http://10.0.0.1"}]
        strategy: ip_hash
        hashKey: client_ip
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:10:18: warning: http.services.a.loadBalancer.hashKey: hashKey is only "
                "used by the consistent_hash strategy, ip_hash always hashes the client IP; use "
                "strategy: consistent_hash to hash header:X-Session"}));
}

TEST(ConfigDiagnostics, ModelAliases) {
  const LoadResult r = load_with_base(R"yaml(
models:
  ok-target: {target: Qwen2.5-0.5B-Instruct}
  ok-fallbacks: {fallbacks: [a, b]}
  neither: {}
  empty:
  bad: {tagret: x}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:7:3: error: models.neither: neither \"target\" nor \"fallbacks\" is set, "
                "expected at least one, e.g. {target: Qwen2.5-0.5B-Instruct}",
                "test.yaml:8:3: error: models.empty: neither \"target\" nor \"fallbacks\" is set, "
                "expected at least one, e.g. {target: Qwen2.5-0.5B-Instruct}",
                "test.yaml:9:3: error: models.bad: neither \"target\" nor \"fallbacks\" is set, "
                "expected at least one, e.g. {target: Qwen2.5-0.5B-Instruct}",
                "test.yaml:9:9: error: models.bad: unknown key \"tagret\", did you mean "
                "\"target\"?"}));
}

TEST(ConfigDiagnostics, RuleErrorPointsIntoQuotedRule) {
  //                 col: 13 = opening quote, 14 = H, 27 = P of Pth
  const LoadResult r = load_with_base(R"yaml(
http:
  routers:
    r:
      rule: "Host(`a`) && Pth(`/x`)"
      service: s
  services:
    s: {loadBalancer: {servers: [{url: "http://10.0.0.1"}]}}
)yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].line, 7);
  EXPECT_EQ(r.diagnostics[0].column, 27);
  EXPECT_EQ(r.diagnostics[0].message.rfind("http.routers.r.rule: ", 0), 0u);
}

TEST(ConfigDiagnostics, RuleErrorPointsIntoPlainAndSingleQuotedRules) {
  const LoadResult r = load_with_base(R"yaml(
http:
  routers:
    plain:
      rule: Host(`a`) && Pth(`/x`)
      service: s
    single:
      rule: 'Host(`it''s`) && Pth(`/x`)'
      service: s
  services:
    s: {loadBalancer: {servers: [{url: "http://10.0.0.1"}]}}
)yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 2u) << all(r);
  EXPECT_EQ(r.diagnostics[0].line, 7);
  EXPECT_EQ(r.diagnostics[0].column, 26);  // plain: first character at 13
  EXPECT_EQ(r.diagnostics[1].line, 10);
  EXPECT_EQ(r.diagnostics[1].column, 31);  // '' counts as one character of the rule
}

TEST(ConfigDiagnostics, RuleErrorInFoldedRulePointsAtItsStart) {
  const LoadResult r = load_with_base(R"yaml(
http:
  routers:
    r:
      rule: >-
        Host(`a`) &&
        Pth(`/x`)
      service: s
  services:
    s: {loadBalancer: {servers: [{url: "http://10.0.0.1"}]}}
)yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].line, 7);
  EXPECT_EQ(r.diagnostics[0].column, 13);
}

TEST(ConfigDiagnostics, ColumnsCountCharactersNotBytes) {
  const LoadResult r = load_with_base(R"yaml(
http:
  routers:
    r: {service: s, rule: "Header(`X-Model`, `模型`) && Pth(`/`)"}
  services:
    s: {loadBalancer: {servers: [{url: "http://10.0.0.1"}]}}
)yaml");
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].line, 6);
  EXPECT_EQ(r.diagnostics[0].column, 55);  // the P of Pth, counting 模 and 型 as one column each
}

TEST(ConfigDiagnostics, NoEntryPoints) {
  const LoadResult absent = load(R"yaml(
http:
  routers: {}
)yaml");
  EXPECT_FALSE(absent.config);
  EXPECT_EQ(lines_of(absent), (std::vector<std::string>{
                                  "test.yaml: error: no entry point is defined, add one, e.g. "
                                  "entryPoints: {web: {address: \":8080\"}}"}));
  const LoadResult empty = load("entryPoints: {}\n");
  EXPECT_EQ(lines_of(empty), (std::vector<std::string>{
                                 "test.yaml:1:14: error: entryPoints: no entry point is defined, "
                                 "add one, e.g. entryPoints: {web: {address: \":8080\"}}"}));
}

TEST(ConfigDiagnostics, EntryPointAddresses) {
  const LoadResult r = load(R"yaml(
entryPoints:
  a: {address: "localhost"}
  b: {address: ":http"}
  c: {address: "[::1"}
  d: {address: ":53/udp"}
  e: {}
  f: {address: "localhost:8080"}
  g: {address: ":8080"}
)yaml");
  EXPECT_FALSE(r.config);
  const std::string expect = ", expected \"HOST:PORT\", \":PORT\" or \"[IPv6]:PORT\"";
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:2:16: error: entryPoints.a.address: invalid address \"localhost\": the "
                "port is missing" + expect,
                "test.yaml:3:16: error: entryPoints.b.address: invalid address \":http\": the port "
                "\"http\" is not a number" + expect,
                "test.yaml:4:16: error: entryPoints.c.address: invalid address \"[::1\": \"]\" is "
                "missing after the IPv6 address" + expect,
                "test.yaml:5:16: error: entryPoints.d.address: invalid address \":53/udp\": UDP is "
                "not supported" + expect,
                "test.yaml:6:3: error: entryPoints.e: missing \"address\", expected e.g. address: "
                "\":8080\"",
                "test.yaml:8:16: error: entryPoints.g.address: address \":8080\" is already used "
                "by entry point \"f\" (line 7), use another port"}));
}

TEST(ConfigDiagnostics, EntryPointOnTheAdminPort) {
  const LoadResult r = load("entryPoints: {web: {address: \":9090\"}}\n");
  EXPECT_EQ(lines_of(r), (std::vector<std::string>{
                             "test.yaml:1:30: error: entryPoints.web.address: address \":9090\" is "
                             "already used by the admin API (default), use another port"}));
  const LoadResult moved = load("entryPoints: {web: {address: \":9090\"}}\nadmin: {address: "
                                "\"127.0.0.1:9191\"}\n");
  EXPECT_TRUE(moved.config) << all(moved);
  const LoadResult off = load("entryPoints: {web: {address: \":9090\"}}\nadmin: {enabled: false}\n");
  EXPECT_TRUE(off.config) << all(off);
}

TEST(ConfigDiagnostics, AdminOpenToTheNetworkWithoutTokenIsAWarning) {
  const LoadResult r = load_with_base("admin: {address: \":9191\"}\n");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(r.config->admin.host, "");
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].severity, Severity::warning);
  EXPECT_EQ(r.diagnostics[0].line, 4);
  EXPECT_EQ(r.diagnostics[0].column, 18);
}

TEST(ConfigDiagnostics, DuplicateKeysAndNames) {
  const LoadResult r = load(R"yaml(
entryPoints:
  web: {address: ":8080"}
  web: {address: ":8081"}
log: {level: info}
log: {level: debug}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(lines_of(r),
            (std::vector<std::string>{
                "test.yaml:3:3: error: entryPoints: \"web\" is defined twice, first on line 2",
                "test.yaml:5:1: error: duplicate key \"log\", it is already set on line 4"}));
}

TEST(ConfigDiagnostics, EmptyAndCommentOnlyFiles) {
  for (std::string_view text : {"", "# nothing here\n", "---\n"}) {
    const LoadResult r = load_text(text, "empty.yaml");
    EXPECT_FALSE(r.config);
    ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
    EXPECT_EQ(r.diagnostics[0].str(),
              "empty.yaml: error: the file is empty, expected at least entryPoints and "
              "http.routers/http.services");
  }
}

TEST(ConfigDiagnostics, TopLevelMustBeAMap) {
  const LoadResult r = load("- a\n- b\n");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(lines_of(r), (std::vector<std::string>{
                             "test.yaml:1:1: error: expected a map of sections (entryPoints, http, "
                             "...) at the top level, got a list"}));
}

TEST(ConfigDiagnostics, SecondDocumentIsAnError) {
  const LoadResult r = load("entryPoints: {web: {address: \":80\"}}\n---\nlog: {level: info}\n");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(r.diagnostics[0].line, 3);
}

TEST(ConfigDiagnostics, MissingFile) {
  const LoadResult r = load_file("/nonexistent/modelgate.yaml");
  EXPECT_FALSE(r.config);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].line, 0);
  EXPECT_EQ(r.diagnostics[0].str(),
            "/nonexistent/modelgate.yaml: error: cannot read: No such file or directory, check the "
            "path given to --config");
}

TEST(ConfigDiagnostics, LoadFileReadsAFile) {
  const std::string path = testing::TempDir() + "/modelgate_config_test.yaml";
  {
    std::ofstream out(path);
    out << kSeedModelRouting.substr(1);
  }
  const LoadResult r = load_file(path);
  std::remove(path.c_str());
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_EQ(r.diagnostics.size(), 2u);
  EXPECT_EQ(r.diagnostics[0].file, path);
}

TEST(ConfigDiagnostics, EveryProblemIsReportedAtOnceInFileOrder) {
  const LoadResult r = load(R"yaml(
api: {}
log: {level: loud}
entryPoints:
  web: {address: ":80", timeouts: {idle: forever}}
http:
  routers:
    r1: {rule: "Path(`/`)", service: missing, entryPoints: [nope]}
    r2: {rule: "Path(`/`)", servce: s}
  services:
    s:
      loadBalancer:
        servers:
          - url: http://10.0.0.1
          - url: http://10.0.0.1
        strategy: fastest
models:
  x: {}
)yaml");
  EXPECT_FALSE(r.config);
  std::vector<std::string> places;
  for (const auto& d : r.diagnostics) {
    places.push_back(std::to_string(d.line) + ":" + std::to_string(d.column) +
                     (d.severity == Severity::error ? " E" : " W"));
  }
  EXPECT_EQ(places, (std::vector<std::string>{"1:1 W", "2:14 E", "4:42 E", "7:38 E", "7:61 E",
                                              "8:5 E", "8:29 E", "14:18 E", "15:19 E", "17:3 E"}))
      << all(r);
}

TEST(ConfigDiagnostics, StrFormats) {
  Diagnostic d{Severity::error, "f.yaml", 3, 7, "boom"};
  EXPECT_EQ(d.str(), "f.yaml:3:7: error: boom");
  d.severity = Severity::warning;
  EXPECT_EQ(d.str(), "f.yaml:3:7: warning: boom");
  d.column = 0;
  EXPECT_EQ(d.str(), "f.yaml:3: warning: boom");
  d.line = 0;
  EXPECT_EQ(d.str(), "f.yaml: warning: boom");
  EXPECT_FALSE(has_errors({d}));
  EXPECT_TRUE(has_errors({d, Diagnostic{Severity::error, "f", 1, 1, "x"}}));
  EXPECT_FALSE(has_errors({}));
}

}  // namespace
}  // namespace modelgate::config

namespace modelgate::config {

TEST(ConfigScheduling, SettingsLoadWithDefaults) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    s:
      loadBalancer:
        strategy: cache_aware
        servers: [{url: "http://10.0.0.1"}]
        loadFactor: 1.5
        cacheAware: {maxIndexBytes: 8MiB, balanceAbsThreshold: 4, balanceRelThreshold: 2, newPrefixSlack: 2}
        serverMetrics: {interval: 250ms, flavour: vllm}
    t:
      loadBalancer:
        strategy: session
        servers: [{url: "http://10.0.0.2"}]
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  const auto& s = r.config->services.at("s").loadBalancer;
  EXPECT_EQ(s.loadFactor, 1.5);
  EXPECT_EQ(s.cacheAware.maxIndexBytes, 8u << 20);
  EXPECT_EQ(s.cacheAware.balanceAbsThreshold, 4);
  EXPECT_EQ(s.cacheAware.balanceRelThreshold, 2.0);
  EXPECT_EQ(s.cacheAware.newPrefixSlack, 2);
  EXPECT_TRUE(s.serverMetrics.enabled);
  EXPECT_EQ(s.serverMetrics.interval, std::chrono::milliseconds(250));
  EXPECT_EQ(s.serverMetrics.path, "/metrics");
  EXPECT_EQ(s.serverMetrics.flavour, "vllm");
  const auto& t = r.config->services.at("t").loadBalancer;
  EXPECT_EQ(t.loadFactor, 1.25);
  EXPECT_FALSE(t.serverMetrics.enabled);
  EXPECT_EQ(t.cacheAware.maxIndexBytes, 16u << 20);
  EXPECT_EQ(t.cacheAware.newPrefixSlack, 0);
}

TEST(ConfigScheduling, BadValuesSayWhereAndWhatIsExpected) {
  const LoadResult r = load_with_base(R"yaml(
http:
  services:
    s:
      loadBalancer:
        strategy: cache_aware
        servers: [{url: "http://10.0.0.1"}]
        loadFactor: 0.5
        cacheAware: {maxIndexBytes: 100, newPrefixSlack: -1}
        serverMetrics: {flavour: vlm}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "loadFactor"),
            "test.yaml:10:21: error: http.services.s.loadBalancer.loadFactor: invalid number \"0.5\", "
            "expected a number from 1 to 100, e.g. 1.25");
  EXPECT_EQ(find(r, "maxIndexBytes"),
            "test.yaml:11:37: error: http.services.s.loadBalancer.cacheAware.maxIndexBytes: 100 bytes "
            "is too small for a prefix index, expected at least 4KiB, e.g. \"16MiB\"");
  EXPECT_NE(find(r, "newPrefixSlack").find("test.yaml:11:"), std::string::npos) << all(r);
  EXPECT_NE(find(r, "newPrefixSlack").find("0"), std::string::npos) << all(r);
  EXPECT_EQ(find(r, "flavour"),
            "test.yaml:12:34: error: http.services.s.loadBalancer.serverMetrics.flavour: unknown "
            "flavour \"vlm\", expected auto, vllm, sglang, llamacpp or tgi, did you mean \"vllm\"?");
}

}  // namespace modelgate::config

namespace modelgate::config {

TEST(ConfigTls, EntryPointTlsCertificatesAndTransports) {
  const LoadResult r = load(R"yaml(
entryPoints:
  websecure:
    address: ":8443"
    http:
      tls: {}
tls:
  certificates:
    - certFile: /nonexistent/cert.pem
      keyFile: /nonexistent/key.pem
http:
  serversTransports:
    internal:
      insecureSkipVerify: true
  services:
    s:
      loadBalancer:
        serversTransport: internl
        servers: [{url: "https://gpu1.internal"}, {url: "HTTPS://10.0.0.2:8443/v1"}]
  routers:
    r: {rule: "PathPrefix(`/`)", service: s}
)yaml");
  EXPECT_FALSE(r.config);
  EXPECT_EQ(find(r, "certificates[0]"),
            "test.yaml:8:17: error: tls.certificates[0]: cannot read \"/nonexistent/cert.pem\": No such file or "
            "directory");
  EXPECT_EQ(find(r, "http.tls"),
            "test.yaml:5:12: error: entryPoints.websecure.http.tls: no certificate to serve, add "
            "tls.certificates: [{certFile: cert.pem, keyFile: key.pem}] at the top level");
  EXPECT_NE(find(r, "serversTransport:").find("unknown serversTransport \"internl\", did you mean \"internal\""),
            std::string::npos)
      << all(r);
  EXPECT_NE(find(r, "insecureSkipVerify"), "") << all(r);
}

TEST(ConfigTls, HttpsServersGetPort443AndTheirTransport) {
  const LoadResult r = load(R"yaml(
entryPoints:
  web: {address: ":8080"}
http:
  serversTransports:
    internal: {insecureSkipVerify: true, serverName: gpu.internal}
  services:
    s:
      loadBalancer:
        serversTransport: internal
        servers: [{url: "https://gpu1.internal"}, {url: "HTTPS://10.0.0.2:8443/v1"}, {url: "http://10.0.0.3"}]
  routers:
    r: {rule: "PathPrefix(`/`)", service: s}
)yaml");
  ASSERT_TRUE(r.config) << all(r);
  const auto& servers = r.config->services.at("s").loadBalancer.servers;
  EXPECT_TRUE(servers[0].tls);
  EXPECT_EQ(servers[0].port, 443);
  EXPECT_EQ(servers[0].hostHeader(), "gpu1.internal");
  EXPECT_TRUE(servers[1].tls);
  EXPECT_EQ(servers[1].port, 8443);
  EXPECT_EQ(servers[1].basePath, "/v1");
  EXPECT_FALSE(servers[2].tls);
  EXPECT_EQ(r.config->services.at("s").loadBalancer.serversTransport, "internal");
  const auto& t = r.config->serversTransports.at("internal");
  EXPECT_TRUE(t.insecureSkipVerify);
  EXPECT_EQ(t.serverName, "gpu.internal");
}

}  // namespace modelgate::config
