// The control plane end to end, against the real binary and `modelgate sim`s on loopback: model
// discovery (runtime load/unload, the gateway's own /v1/models, aliases, fallbacks), hot reloads
// under load (in-place rewrite, write-then-rename, a Kubernetes-style `..data` symlink swap,
// invalid files, SIGHUP) and the admin API's server changes (add, drain, remove, token).
// Every wait is bounded; ports are picked by the kernel.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "support/admin_status.h"
#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/sim_stats.h"
#include "support/wait.h"

namespace mt = modelgate::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using mt::admin_port;
using mt::Json;
using mt::num;
using mt::str;
using mt::wait_until;

using Clock = std::chrono::steady_clock;

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";
constexpr const char* kGlm = "glm4-9b-chat";
constexpr const char* kBoth = "Qwen2.5-0.5B-Instruct,glm4-9b-chat";
constexpr const char* kNew = "Llama-3.2-1B-Instruct";

std::string chat(std::string_view model, bool stream = false, int max_tokens = 4) {
  return "{\"model\":\"" + std::string(model) + "\",\"stream\":" + (stream ? "true" : "false") +
         ",\"max_tokens\":" + std::to_string(max_tokens) +
         ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";
}

std::string url(const mt::SimProcess& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

std::string url_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

using Status = mt::ReloadStatus;
Status status(mt::HttpClient& admin) { return mt::reload_status(admin); }

// A bounded background load: `threads` clients sending chat requests for `model` until stopped
// (or a hard deadline), every `stream_every`-th one streamed. Counts every failure with its cause.
class Load {
 public:
  Load(std::uint16_t port, int threads, std::string model, int stream_every = 4,
       std::chrono::seconds hard_limit = 75s)
      : deadline_(Clock::now() + hard_limit) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, port, model, stream_every, t] {
        mt::HttpClient client("127.0.0.1", port, 10s);
        for (int i = t; !stop_ && Clock::now() < deadline_; ++i) {
          const bool streamed = stream_every > 0 && i % stream_every == stream_every - 1;
          std::string served;
          if (streamed) {
            auto s = client.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                                   chat(model, true, 6), {.timeout = 10s});
            ++streams_;
            const bool good =
                s.status == 200 && s.complete && !s.events.empty() && s.events.back().data == "[DONE]";
            if (!good) {
              ++broken_streams_;
              note("stream: status " + std::to_string(s.status) + " complete=" + std::to_string(s.complete) +
                   " events=" + std::to_string(s.events.size()) + " error=" + s.error +
                   " body=" + s.body.substr(0, 300));
            }
            served = s.header("X-Served-By");
          } else {
            auto r = client.post_json("/v1/chat/completions", chat(model, false, 4));
            ++requests_;
            if (r.status != 200) {
              ++failed_;
              note("request: status " + std::to_string(r.status) + " error=" + r.error +
                   " body=" + r.body.substr(0, 300));
            }
            served = r.header("X-Served-By");
          }
          std::lock_guard lock(mutex_);
          ++served_[served];
        }
      });
    }
  }
  ~Load() { stop(); }

  void stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  int requests() const { return requests_; }
  int failed() const { return failed_; }
  int streams() const { return streams_; }
  int broken_streams() const { return broken_streams_; }
  int total() const { return requests_ + streams_; }
  std::map<std::string, int> served() {
    std::lock_guard lock(mutex_);
    return served_;
  }
  std::string failures() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& f : failures_) out += "  " + f + "\n";
    return out;
  }

 private:
  void note(std::string what) {
    std::lock_guard lock(mutex_);
    if (failures_.size() < 20) failures_.push_back(std::move(what));
  }
  Clock::time_point deadline_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0}, failed_{0}, streams_{0}, broken_streams_{0};
  std::mutex mutex_;
  std::map<std::string, int> served_;
  std::vector<std::string> failures_;
  std::vector<std::thread> threads_;
};

std::int64_t sim_stat(const mt::SimProcess& sim, const char* key) { return mt::sim_stat(sim.port(), key); }

// docs/health-and-discovery.md: startup waits for the first poll of every server, "so that the
// first requests already see the discovered models". Checks the first request made once the
// gateway said "ready", then waits (bounded) until `model` is routable so the test can go on.
void expect_discovered_at_ready(mt::HttpClient& client, std::string_view model) {
  const auto start = Clock::now();
  auto first = client.post_json("/v1/chat/completions", chat(model));
  EXPECT_EQ(first.status, 200) << "the first request after \"modelgate: ready\" does not see the discovered "
                                  "models yet: "
                               << first.body;
  if (first.status == 200) return;
  const bool later = wait_until(
      [&] { return client.post_json("/v1/chat/completions", chat(model)).status == 200; }, 3s, 5ms);
  ADD_FAILURE() << "(observed) " << model << " became routable " << ms_since(start)
                << " ms after ready; routable within 3 s: " << later;
}

// ---- discovery ---------------------------------------------------------------------------------

std::string discovery_config(const mt::SimProcess& a, const mt::SimProcess& b, const std::string& extra = "",
                             const std::string& lb_extra = "") {
  return R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
http:
  routers:
    v1:
      rule: "PathPrefix(`/v1`)"
      service: pool
  services:
    pool:
      loadBalancer:
        servers:
          - url: )y" +
         url(a) + R"y(
          - url: )y" +
         url(b) + R"y(
        discoverModels:
          interval: 300ms
)y" + lb_extra +
         extra;
}

}  // namespace

TEST(GatewayDiscovery, SeedScenarioBalancesQwenPinsGlm4AndFollowsRuntimeModels) {
  mt::SimProcess a("vm02", {"--models", kQwen});
  mt::SimProcess b("vm03", {"--models", kBoth});
  mt::GatewayProcess gw(discovery_config(a, b));
  mt::HttpClient client("127.0.0.1", gw.port());
  expect_discovered_at_ready(client, kQwen);

  // Qwen on both, about half each; glm4 only on B.
  std::map<std::string, int> qwen, glm;
  for (int i = 0; i < 100; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat(kQwen));
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    ++qwen[r.header("X-Served-By")];
  }
  for (int i = 0; i < 20; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat(kGlm));
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    ++glm[r.header("X-Served-By")];
  }
  EXPECT_NEAR(qwen["vm02"], 50, 10);
  EXPECT_NEAR(qwen["vm03"], 50, 10);
  EXPECT_EQ(qwen["vm02"] + qwen["vm03"], 100);
  EXPECT_EQ(glm["vm03"], 20) << "glm4 must only go to the server that lists it";

  // A model nobody serves yet: the gateway refuses it itself.
  {
    auto r = client.post_json("/v1/chat/completions", chat(kNew));
    EXPECT_EQ(r.status, 404) << r.body;
    EXPECT_NE(r.body.find("model_not_found"), std::string::npos) << r.body;
  }

  // Loaded on A at run time: routed to A within one poll interval (300 ms) plus slack.
  mt::HttpClient sim_a("127.0.0.1", a.port());
  const auto loaded_at = Clock::now();
  ASSERT_EQ(sim_a.post_json("/admin/models", std::string("{\"id\":\"") + kNew + "\"}").status, 201);
  std::string last;
  const bool routed = wait_until(
      [&] {
        auto r = client.post_json("/v1/chat/completions", chat(kNew));
        last = std::to_string(r.status) + " " + r.header("X-Served-By") + " " + r.body.substr(0, 200);
        return r.status == 200 && r.header("X-Served-By") == "vm02";
      },
      3s, 10ms);
  const double load_ms = ms_since(loaded_at);
  ASSERT_TRUE(routed) << "a model loaded on A is not routed there; last answer: " << last;
  EXPECT_LT(load_ms, 1200.0) << "the runtime-loaded model took " << load_ms
                             << " ms to be routed (poll interval 300 ms)";
  for (int i = 0; i < 10; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat(kNew));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Served-By"), "vm02") << "only A lists " << kNew;
  }

  // The gateway's own model list: each model once, with how many servers (up) serve it.
  {
    auto r = client.get("/v1/models");
    ASSERT_EQ(r.status, 200) << r.body;
    Json j(r.body);
    ASSERT_TRUE(j.ok) << r.body;
    std::map<std::string, int> seen;
    std::map<std::string, std::int64_t> servers;
    simdjson::dom::array data;
    ASSERT_FALSE(j.root["data"].get(data)) << r.body;
    for (auto m : data) {
      const auto id = str(m, "id");
      ++seen[id];
      servers[id] = num(m, "servers");
    }
    for (const auto& [id, count] : seen)
      EXPECT_EQ(count, 1) << id << " listed " << count << " times: " << r.body;
    EXPECT_EQ(servers[kQwen], 2) << r.body;
    EXPECT_EQ(servers[kGlm], 1) << r.body;
    EXPECT_EQ(servers[kNew], 1) << r.body;
    EXPECT_EQ(seen.size(), 3u) << r.body;
  }

  // Unloaded: no longer routed to A (the gateway answers 404 model_not_found itself).
  const auto unloaded_at = Clock::now();
  ASSERT_EQ(sim_a.request("DELETE", std::string("/admin/models/") + url_encode(kNew)).status, 204);
  const bool gone = wait_until(
      [&] {
        auto r = client.post_json("/v1/chat/completions", chat(kNew));
        last = std::to_string(r.status) + " " + r.body.substr(0, 200);
        return r.status == 404 && r.body.find("model_not_found") != std::string::npos &&
               !r.has_header("X-Served-By");
      },
      3s, 10ms);
  const double unload_ms = ms_since(unloaded_at);
  EXPECT_TRUE(gone) << "an unloaded model is still routed; last answer: " << last;
  EXPECT_LT(unload_ms, 1200.0);

  // Qwen unloaded from A: B, which still lists it, serves every Qwen request.
  ASSERT_EQ(sim_a.request("DELETE", std::string("/admin/models/") + url_encode(kQwen)).status, 204);
  const bool moved = wait_until(
      [&] {
        for (int i = 0; i < 6; ++i) {
          auto r = client.post_json("/v1/chat/completions", chat(kQwen));
          if (r.status != 200 || r.header("X-Served-By") != "vm03") return false;
        }
        return true;
      },
      3s, 10ms);
  EXPECT_TRUE(moved) << "Qwen still goes to A after A unloaded it";
  int errors = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat(kQwen));
    errors += r.status != 200;
    EXPECT_EQ(r.header("X-Served-By"), "vm03");
  }
  EXPECT_EQ(errors, 0);
  {
    auto r = client.get("/v1/models");
    Json j(r.body);
    ASSERT_TRUE(j.ok) << r.body;
    simdjson::dom::array data;
    ASSERT_FALSE(j.root["data"].get(data)) << r.body;
    for (auto m : data) {
      if (str(m, "id") == kQwen) {
        EXPECT_EQ(num(m, "servers"), 1) << r.body;
      }
      EXPECT_NE(str(m, "id"), kNew) << "an unloaded model is still listed: " << r.body;
    }
  }
}

TEST(GatewayDiscovery, AliasRewritesTheModelAndFallbackServesWhenTheOnlyServerDies) {
  mt::SimProcess a("vm02", {"--models", kQwen});
  mt::SimProcess b("vm03", {"--models", kBoth});
  const std::string health = R"y(        healthCheck:
          path: /health
          interval: 300ms
          timeout: 250ms
          fall: 1
          rise: 1
)y";
  const std::string models = R"y(
models:
  gpt-4o-mini: {target: Qwen2.5-0.5B-Instruct}
  glm4-9b-chat: {fallbacks: [Qwen2.5-0.5B-Instruct]}
)y";
  mt::GatewayProcess gw(discovery_config(a, b, models, health));
  mt::HttpClient client("127.0.0.1", gw.port());
  expect_discovered_at_ready(client, kGlm);

  // The alias reaches Qwen, with the body's model rewritten (the sim echoes "model").
  std::map<std::string, int> alias_served;
  for (int i = 0; i < 10; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat("gpt-4o-mini"));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"model\":\"Qwen2.5-0.5B-Instruct\""), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("gpt-4o-mini"), std::string::npos) << r.body;
    ++alias_served[r.header("X-Served-By")];
  }
  EXPECT_EQ(alias_served.size(), 2u) << "the alias is balanced over both Qwen servers";
  {
    auto r = client.get("/v1/models");
    EXPECT_NE(r.body.find("\"id\":\"gpt-4o-mini\""), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("\"alias_of\":\"Qwen2.5-0.5B-Instruct\""), std::string::npos) << r.body;
  }

  // glm4 on B while it lives: no fallback.
  {
    auto r = client.post_json("/v1/chat/completions", chat(kGlm));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Served-By"), "vm03");
    EXPECT_FALSE(r.has_header("X-Model-Fallback"));
  }

  // B dies: once the health check (300 ms, fall 1) sees it, glm4 falls back to Qwen on A.
  b.process().kill();
  b.process().wait(5s);
  const auto killed = Clock::now();
  std::string last;
  mt::Response fallback;
  const bool fell_back = wait_until(
      [&] {
        fallback = client.post_json("/v1/chat/completions", chat(kGlm));
        last = std::to_string(fallback.status) + " " + fallback.body.substr(0, 300);
        return fallback.status == 200 && fallback.has_header("X-Model-Fallback");
      },
      4s, 20ms);
  const double fallback_ms = ms_since(killed);
  ASSERT_TRUE(fell_back) << "no fallback after B died; last answer: " << last;
  EXPECT_LT(fallback_ms, 1500.0);
  EXPECT_EQ(fallback.header("X-Model-Fallback"), kQwen);
  EXPECT_EQ(fallback.header("X-Served-By"), "vm02");
  EXPECT_NE(fallback.body.find("\"model\":\"Qwen2.5-0.5B-Instruct\""), std::string::npos) << fallback.body;
  for (int i = 0; i < 10; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat(kGlm));
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.header("X-Model-Fallback"), kQwen);
    // A streamed request falls back too.
  }
  auto s = client.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                         chat(kGlm, true, 3));
  EXPECT_EQ(s.status, 200) << s.body;
  EXPECT_TRUE(s.complete) << s.error;
  EXPECT_EQ(s.header("X-Model-Fallback"), kQwen);
}

// ---- reloads -----------------------------------------------------------------------------------

namespace {

// The gateway started on a config path of our own (a symlink, as a Kubernetes ConfigMap mount).
struct OwnGateway {
  std::unique_ptr<mt::Process> process;
  std::uint16_t web = 0, admin = 0;
  explicit OwnGateway(const std::string& config_path) {
    process = std::make_unique<mt::Process>(
        MODELGATE_BIN, std::vector<std::string>{"serve", "--config", config_path, "--workers", "2"});
    if (!process->wait_for_line(std::regex("modelgate: ready"), 10s))
      throw std::runtime_error("gateway did not start:\n" + process->output());
    auto line = process->wait_for_line(std::regex(R"(entry point web listening on \S+:(\d+))"), 1s);
    if (!line) throw std::runtime_error("no web port:\n" + process->output());
    web = static_cast<std::uint16_t>(std::stoi((*line)[1]));
    admin = admin_port(*process);
  }
};

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc | std::ios::binary);
  out << text;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// A config over A and B: weighted round robin with the given weights, the `extra` router or not,
// and a `marker` router whose rule names the change number (so its arrival can be seen).
std::string reload_config(const mt::SimProcess& a, const mt::SimProcess& b, int weight_a, int weight_b,
                          bool extra_router, int marker,
                          const std::string& strategy = "weighted_round_robin") {
  std::string y = R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
http:
  routers:
    v1:
      rule: "PathPrefix(`/v1`)"
      service: pool
    marker:
      rule: "Path(`/marker/)y" +
                  std::to_string(marker) + R"y(`)"
      service: pool
)y";
  if (extra_router) {
    y += R"y(    extra:
      rule: "Path(`/extra`)"
      service: pool
)y";
  }
  y += R"y(  services:
    pool:
      loadBalancer:
        strategy: )y" +
       strategy + R"y(
        servers:
)y";
  if (weight_a >= 0)
    y += "          - url: " + url(a) + "\n            weight: " + std::to_string(weight_a) + "\n";
  if (weight_b >= 0)
    y += "          - url: " + url(b) + "\n            weight: " + std::to_string(weight_b) + "\n";
  return y;
}

// The routers the gateway has in effect right now (the marker rule included).
std::string routers_text(mt::HttpClient& admin) {
  auto r = admin.get("/api/routers");
  return r.status == 200 ? r.body : std::string();
}

}  // namespace

TEST(GatewayReload, HundredChangesUnderLoadLoseNoRequestAndBadFilesAreRefused) {
  mt::SimProcess a("vm02", {"--models", kQwen, "--ttft-ms", "5", "--tpot-ms", "4"});
  mt::SimProcess b("vm03", {"--models", kQwen, "--ttft-ms", "5", "--tpot-ms", "4"});

  // modelgate.yaml -> ..data/modelgate.yaml, ..data -> ..2026_0 (a ConfigMap volume's layout).
  const fs::path dir = mt::temp_dir();
  const fs::path config = dir / "modelgate.yaml";
  int generation_dir = 0;
  auto data_dir = [&](int n) { return dir / ("..2026_" + std::to_string(n)); };
  fs::create_directory(data_dir(0));
  write_file(data_dir(0) / "modelgate.yaml", reload_config(a, b, 1, 1, false, 0));
  fs::create_directory_symlink("..2026_0", dir / "..data");
  fs::create_symlink("..data/modelgate.yaml", config);

  OwnGateway gw(config.string());
  mt::HttpClient admin("127.0.0.1", gw.admin, 5s);
  ASSERT_NE(routers_text(admin).find("/marker/0"), std::string::npos) << routers_text(admin);

  // The three ways a config file gets replaced.
  auto rewrite_in_place = [&](const std::string& text) { write_file(config, text); };
  auto write_then_rename = [&](const std::string& text) {
    const fs::path tmp = dir / ".modelgate.yaml.tmp";
    write_file(tmp, text);
    fs::rename(tmp, config);
  };
  auto symlink_swap = [&](const std::string& text) {
    const int old = generation_dir;
    const fs::path fresh = data_dir(++generation_dir);
    fs::create_directory(fresh);
    write_file(fresh / "modelgate.yaml", text);
    const fs::path tmp_link = dir / "..data_tmp";
    fs::create_directory_symlink(fresh.filename(), tmp_link);
    fs::rename(tmp_link, dir / "..data");  // rename(2) of a symlink over a symlink: atomic
    if (!fs::is_symlink(config)) {         // a previous write-then-rename left a plain file
      const fs::path tmp_cfg = dir / ".modelgate.yaml.link";
      fs::create_symlink("..data/modelgate.yaml", tmp_cfg);
      fs::rename(tmp_cfg, config);
    }
    fs::remove_all(data_dir(old));
  };

  {
    Load load(gw.web, 8, kQwen, 4);
    std::vector<double> apply_ms;
    std::vector<std::string> not_applied;
    const char* kinds[] = {"in place", "rename", "symlink swap"};
    for (int change = 1; change <= 100; ++change) {
      const bool flip = change % 2 == 1;
      const bool extra = change % 4 < 2;
      const std::string text = reload_config(a, b, flip ? 3 : 1, flip ? 1 : 2, extra, change);
      const auto t0 = Clock::now();
      switch (change % 3) {
        case 0:
          rewrite_in_place(text);
          break;
        case 1:
          write_then_rename(text);
          break;
        case 2:
          symlink_swap(text);
          break;
      }
      const std::string marker = "/marker/" + std::to_string(change) + "`";
      const bool applied =
          wait_until([&] { return routers_text(admin).find(marker) != std::string::npos; }, 4s);
      apply_ms.push_back(ms_since(t0));
      if (!applied) {
        not_applied.push_back("change " + std::to_string(change) + " (" + kinds[change % 3] + ")");
        continue;
      }
      const std::string routers = routers_text(admin);
      EXPECT_EQ(routers.find("\"extra\"") != std::string::npos, extra)
          << "change " << change << ": router `extra` should be " << (extra ? "present" : "absent") << ": "
          << routers;
    }
    load.stop();
    EXPECT_TRUE(not_applied.empty()) << not_applied.size() << " changes never applied, first: "
                                     << (not_applied.empty() ? "" : not_applied.front()) << "\n"
                                     << gw.process->output().substr(0, 4000);
    const double slowest = *std::max_element(apply_ms.begin(), apply_ms.end());
    {
      auto sorted = apply_ms;
      std::sort(sorted.begin(), sorted.end());
      const std::string out = gw.process->output();
      std::size_t polled = 0;
      for (auto pos = out.find("(poll)"); pos != std::string::npos; pos = out.find("(poll)", pos + 1))
        ++polled;
      std::cout << "[ reloads  ] 100 changes: median " << sorted[sorted.size() / 2] << " ms, max " << slowest
                << " ms; " << load.requests() << " requests + " << load.streams() << " streams under load; "
                << polled << " reloads found by the 1 s poll instead of inotify\n";
    }
    EXPECT_LT(slowest, 2500.0) << "slowest reload took " << slowest << " ms";
    EXPECT_GT(load.total(), 200) << "the load did not run";
    EXPECT_GT(load.streams(), 50);
    EXPECT_EQ(load.failed(), 0) << "of " << load.requests() << " requests:\n" << load.failures();
    EXPECT_EQ(load.broken_streams(), 0) << "of " << load.streams() << " streams:\n" << load.failures();
    auto served = load.served();
    EXPECT_GT(served["vm02"], 0);
    EXPECT_GT(served["vm03"], 0);
    auto st = status(admin);
    EXPECT_TRUE(st.has_reload && st.reload_ok) << "the last good reload is not reported as ok";
  }

  // An invalid file: refused, the previous config keeps serving, /api/status says why.
  mt::HttpClient client("127.0.0.1", gw.web);
  write_then_rename(reload_config(a, b, 1, 1, false, 500));  // a known good state: A and B alternate
  ASSERT_TRUE(wait_until([&] { return routers_text(admin).find("/marker/500`") != std::string::npos; }, 4s));
  const auto before_invalid = status(admin);
  rewrite_in_place(reload_config(a, b, 1, 1, true, 501, "fastest"));  // unknown strategy
  Status st;
  const bool refused = wait_until(
      [&] {
        st = status(admin);
        return st.has_reload && !st.reload_ok;
      },
      4s);
  ASSERT_TRUE(refused) << "an invalid config was not reported as refused";
  EXPECT_FALSE(st.errors.empty());
  EXPECT_NE(st.errors.empty() ? std::string() : st.errors.front(), "");
  bool mentions_strategy = false;
  for (const auto& e : st.errors) mentions_strategy |= e.find("fastest") != std::string::npos;
  EXPECT_TRUE(mentions_strategy) << "errors do not name the bad value: "
                                 << (st.errors.empty() ? "" : st.errors.front());
  EXPECT_EQ(st.generation, before_invalid.generation) << "a refused file changed the generation";
  EXPECT_NE(routers_text(admin).find("/marker/500`"), std::string::npos) << "the refused config took effect";
  {
    std::map<std::string, int> served;
    for (int i = 0; i < 20; ++i) {
      auto r = client.post_json("/v1/chat/completions", chat(kQwen));
      EXPECT_EQ(r.status, 200) << r.body;
      ++served[r.header("X-Served-By")];
    }
    EXPECT_EQ(served["vm02"], 10) << "the previous config (A and B in turn) should keep serving";
    EXPECT_EQ(served["vm03"], 10);
  }

  // Then a valid one, sending everything to B: applied within about a second.
  const auto fixed_at = Clock::now();
  rewrite_in_place(reload_config(a, b, -1, 1, false, 502));
  const bool routed = wait_until(
      [&] {
        for (int i = 0; i < 4; ++i) {
          auto r = client.post_json("/v1/chat/completions", chat(kQwen));
          if (r.status != 200 || r.header("X-Served-By") != "vm03") return false;
        }
        return true;
      },
      4s, 10ms);
  const double fixed_ms = ms_since(fixed_at);
  ASSERT_TRUE(routed) << "the valid config after a refused one was not applied";
  EXPECT_LT(fixed_ms, 1500.0) << "took " << fixed_ms << " ms";
  st = status(admin);
  EXPECT_TRUE(st.reload_ok);
  EXPECT_TRUE(st.errors.empty());

  // SIGHUP reloads the file even though it did not change.
  const auto before_hup = status(admin).generation;
  gw.process->signal(SIGHUP);
  const bool hup = wait_until([&] { return status(admin).generation > before_hup; }, 4s);
  EXPECT_TRUE(hup) << "SIGHUP did not apply the config again";
  EXPECT_TRUE(gw.process->wait_for_line(std::regex(R"(config applied \(SIGHUP\))"), 2s))
      << gw.process->output().substr(0, 3000);
  for (int i = 0; i < 4; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat(kQwen));
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("X-Served-By"), "vm03");
  }
  EXPECT_TRUE(gw.process->running());
}

// ---- admin API ---------------------------------------------------------------------------------

TEST(GatewayAdminApi, AddDrainRemoveServersUnderLoadAndTheTokenGuardsChanges) {
  mt::SimProcess a("vm02", {"--models", kQwen, "--ttft-ms", "5", "--tpot-ms", "3"});
  mt::SimProcess c("vm04", {"--models", kQwen, "--ttft-ms", "5", "--tpot-ms", "3"});
  const std::string token = "s3cret-admin-token";
  mt::GatewayProcess gw(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
  token: ")y" + token + R"y("
http:
  routers:
    v1:
      rule: "PathPrefix(`/v1`)"
      service: pool
  services:
    pool:
      loadBalancer:
        servers:
          - url: )y" + url(a) +
                        "\n");
  mt::HttpClient admin("127.0.0.1", admin_port(gw.process()), 5s);
  const mt::Headers good = {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}};
  const mt::Headers wrong = {{"Authorization", "Bearer not-the-token"}, {"Content-Type", "application/json"}};
  const mt::Headers none = {{"Content-Type", "application/json"}};
  const std::string add_body = "{\"url\":\"" + url(c) + "\",\"weight\":1}";
  const std::string server_path = "/api/services/pool/servers/" + url_encode(url(c));
  auto pool_text = [&] { return admin.get("/api/services/pool").body; };

  Load load(gw.port(), 4, kQwen, 4);
  // Waits until the load has finished `n` more exchanges than when it was last asked.
  int seen = 0;
  auto load_runs = [&](int n) {
    const int target = seen + n;
    const bool ran = wait_until([&] { return (seen = load.total()) >= target; }, 10s, 5ms);
    EXPECT_TRUE(ran) << "the load stalled at " << seen << " exchanges, " << n << " more expected";
    return ran;
  };
  load_runs(10);

  // Without a token, or with a wrong one: 401, and nothing changes.
  for (const auto* h : {&none, &wrong}) {
    auto r = admin.request("POST", "/api/services/pool/servers", *h, add_body);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_NE(r.header("WWW-Authenticate").find("Bearer"), std::string::npos);
    auto d = admin.request("PUT", "/api/services/pool/servers/" + url_encode(url(a)) + "/drain", *h);
    EXPECT_EQ(d.status, 401) << d.body;
    auto x = admin.request("DELETE", "/api/services/pool/servers/" + url_encode(url(a)), *h);
    EXPECT_EQ(x.status, 401) << x.body;
  }
  EXPECT_EQ(pool_text().find(url(c)), std::string::npos) << "a refused add took effect: " << pool_text();
  EXPECT_EQ(pool_text().find("\"draining\":true"), std::string::npos) << "a refused drain took effect";
  EXPECT_NE(pool_text().find(url(a)), std::string::npos) << "a refused delete took effect";
  load_runs(40);
  EXPECT_EQ(sim_stat(c, "requests"), 0) << "C got traffic before it was added";

  // Added with the token: C starts receiving traffic.
  {
    auto r = admin.request("POST", "/api/services/pool/servers", good, add_body);
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_NE(r.body.find(url(c)), std::string::npos) << r.body;
  }
  EXPECT_TRUE(wait_until([&] { return sim_stat(c, "requests") > 20; }, 3s)) << "C receives no traffic";

  // Requests running on C when it is drained finish; new ones stop going there. Ten long
  // streams (10 tokens, 150 ms apart) are spread over A and C with the load, so some run on C.
  std::vector<mt::StreamResult> long_streams(10);
  std::vector<std::thread> streamers;
  for (std::size_t i = 0; i < long_streams.size(); ++i) {
    streamers.emplace_back([&, i] {
      mt::HttpClient s("127.0.0.1", gw.port());
      long_streams[i] = s.stream("POST", "/v1/chat/completions",
                                 {{"Content-Type", "application/json"}, {"X-Sim-Tpot-Ms", "150"}},
                                 chat(kQwen, true, 10), {.timeout = 10s});
    });
  }
  // The streams run (the load adds at most 4 to what the sims have in flight), some of them on C.
  const bool running = wait_until(
      [&] { return sim_stat(c, "inflight") >= 1 && sim_stat(a, "inflight") + sim_stat(c, "inflight") >= 10; },
      3s);
  EXPECT_TRUE(running) << "the long streams did not start";
  const auto inflight_on_c = sim_stat(c, "inflight");
  {
    auto r = admin.request("PUT", server_path + "/drain", good);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_GE(inflight_on_c, 1) << "nothing was running on C when it was drained (test setup)";
  EXPECT_NE(pool_text().find("\"draining\":true"), std::string::npos) << pool_text();
  load_runs(20);  // every load client has finished what it picked before the drain
  const auto after_drain = sim_stat(c, "requests");
  load_runs(100);
  EXPECT_EQ(sim_stat(c, "requests"), after_drain) << "a draining server still receives new requests";
  for (auto& t : streamers) t.join();
  int on_c = 0;
  for (const auto& s : long_streams) {
    EXPECT_EQ(s.status, 200) << s.error;
    EXPECT_TRUE(s.complete) << "a stream running during the drain was cut: " << s.error;
    EXPECT_TRUE(!s.events.empty() && s.events.back().data == "[DONE]");
    on_c += s.header("X-Served-By") == "vm04";
  }
  EXPECT_GE(on_c, 1) << "no long stream ran on C during the drain (test setup)";

  // Removed: gone from the service; refused removals changed nothing.
  for (const auto* h : {&none, &wrong}) {
    auto r = admin.request("DELETE", server_path, *h);
    EXPECT_EQ(r.status, 401) << r.body;
  }
  EXPECT_NE(pool_text().find(url(c)), std::string::npos) << "a refused delete removed C";
  {
    auto r = admin.request("DELETE", server_path, good);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(pool_text().find(url(c)), std::string::npos) << pool_text();
  load_runs(40);  // the load goes on without C
  load.stop();
  EXPECT_EQ(load.failed(), 0) << "of " << load.requests() << ":\n" << load.failures();
  EXPECT_EQ(load.broken_streams(), 0) << "of " << load.streams() << ":\n" << load.failures();
  EXPECT_GT(load.served()["vm04"], 0);
  EXPECT_EQ(load.served()[""], 0);
}
