// What the gateway tells about the requests it serves, against the real binary and `modelgate
// sim`s: the JSON access log (upstream, router, service, model, status, stream flag, token counts,
// with usage injected into streams that did not ask for it and removed from their answer), the
// Prometheus metrics on the admin address (checked by `promtool check metrics`), and X-Upstream.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <regex>
#include <sstream>
#include <thread>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/json.h"
#include "support/process.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using mt::admin_port;
using mt::Json;
using mt::num;
using mt::read_lines;
using mt::str;
using mt::wait_until;

using Clock = std::chrono::steady_clock;

constexpr const char* kQwen = "Qwen2.5-0.5B-Instruct";
constexpr const char* kGlm = "glm4-9b-chat";
constexpr const char* kBoth = "Qwen2.5-0.5B-Instruct,glm4-9b-chat";

// include_usage: -1 leaves stream_options out, 0/1 sends it false/true.
std::string chat(std::string_view model, bool stream, int max_tokens, int include_usage = -1) {
  std::string body = "{\"model\":\"" + std::string(model) + "\",\"stream\":" + (stream ? "true" : "false") +
                     ",\"max_tokens\":" + std::to_string(max_tokens) +
                     ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story about a gateway\"}]";
  if (include_usage >= 0)
    body += std::string(",\"stream_options\":{\"include_usage\":") + (include_usage ? "true" : "false") + "}";
  return body + "}";
}

std::string url(const mt::SimProcess& s) { return "http://127.0.0.1:" + std::to_string(s.port()); }

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// The usage of a non-streamed answer.
std::pair<std::int64_t, std::int64_t> usage_of(const std::string& body) {
  Json j(body);
  if (!j.ok) return {-1, -1};
  simdjson::dom::element u;
  if (j.root["usage"].get(u)) return {-1, -1};
  return {num(u, "prompt_tokens"), num(u, "completion_tokens")};
}

// ---- Prometheus text -------------------------------------------------------------------------

struct Sample {
  std::string name, labels;  // labels: the text between the braces
  double value = 0;
};

std::vector<Sample> parse_samples(const std::string& text) {
  std::vector<Sample> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    auto brace = line.find('{');
    auto space = line.rfind(' ');
    if (space == std::string::npos) continue;
    if (brace != std::string::npos && brace < space) {
      s.name = line.substr(0, brace);
      auto close = line.rfind('}');
      s.labels = line.substr(brace + 1, close - brace - 1);
    } else {
      s.name = line.substr(0, space);
    }
    try {
      s.value = std::stod(line.substr(space + 1));
    } catch (...) {
      continue;
    }
    out.push_back(s);
  }
  return out;
}

// Sum of the samples of `name` whose labels contain every one of `labels` (`key="value"`).
double sum(const std::vector<Sample>& samples, const std::string& name,
           std::vector<std::string> labels = {}) {
  double total = 0;
  for (const auto& s : samples) {
    if (s.name != name) continue;
    bool all = true;
    for (const auto& l : labels) all &= s.labels.find(l) != std::string::npos;
    if (all) total += s.value;
  }
  return total;
}

bool has_sample(const std::vector<Sample>& samples, const std::string& name, const std::string& label) {
  for (const auto& s : samples) {
    if (s.name == name && s.labels.find(label) != std::string::npos) return true;
  }
  return false;
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

// `promtool check metrics` with `text` on its standard input.
CommandResult promtool_check(const std::string& text) {
  CommandResult r;
  const std::string out_file = mt::temp_dir() + "/promtool.out";
  FILE* pipe = ::popen(("/usr/bin/promtool check metrics > '" + out_file + "' 2>&1").c_str(), "w");
  if (!pipe) return r;
  std::fwrite(text.data(), 1, text.size(), pipe);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(out_file);
  std::stringstream s;
  s << in.rdbuf();
  r.output = s.str();
  return r;
}

}  // namespace

TEST(GatewayAccessLog, JsonLinesCarryRoutingStatusStreamAndTokensAndInjectedUsageIsHidden) {
  mt::SimProcess a("vm02", {"--models", kQwen, "--ttft-ms", "20", "--tpot-ms", "5"});
  const std::string log_path = mt::temp_dir() + "/access.json.log";
  mt::GatewayProcess gw(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
accessLog:
  path: )y" + log_path + R"y(
  format: json
http:
  routers:
    chat:
      rule: "PathPrefix(`/v1`) && Model(`Qwen2.5-0.5B-Instruct`)"
      service: qwen-pool
  services:
    qwen-pool:
      loadBalancer:
        servers:
          - url: )y" + url(a) +
                        "\n");
  mt::HttpClient client("127.0.0.1", gw.port());
  const mt::Headers json = {{"Content-Type", "application/json"}};

  // 1. Not streamed, 7 tokens.
  auto plain = client.post_json("/v1/chat/completions", chat(kQwen, false, 7));
  ASSERT_EQ(plain.status, 200) << plain.body;
  const auto [prompt, completion] = usage_of(plain.body);
  ASSERT_GT(prompt, 0) << plain.body;
  ASSERT_EQ(completion, 7);

  // 2. Streamed without stream_options, 5 tokens: the gateway asks the server for usage and
  // removes the usage event before it reaches the client.
  auto hidden = client.stream("POST", "/v1/chat/completions", json, chat(kQwen, true, 5));
  ASSERT_EQ(hidden.status, 200) << hidden.body;
  ASSERT_TRUE(hidden.complete) << hidden.error;
  ASSERT_FALSE(hidden.events.empty());
  EXPECT_EQ(hidden.events.back().data, "[DONE]");
  for (const auto& e : hidden.events) {
    EXPECT_EQ(e.data.find("\"usage\""), std::string::npos) << "the client did not ask for usage: " << e.data;
    EXPECT_EQ(e.data.find("\"choices\":[]"), std::string::npos) << e.data;
  }
  EXPECT_EQ(hidden.events.size(), 5u + 1u + 1u) << "5 tokens, the finish event and [DONE]:\n" << hidden.body;

  // 3. Streamed, asking for usage, 6 tokens: the usage event reaches the client.
  auto asked = client.stream("POST", "/v1/chat/completions", json, chat(kQwen, true, 6, 1));
  ASSERT_EQ(asked.status, 200) << asked.body;
  ASSERT_TRUE(asked.complete) << asked.error;
  ASSERT_GE(asked.events.size(), 2u);
  EXPECT_EQ(asked.events.back().data, "[DONE]");
  const auto& usage_event = asked.events[asked.events.size() - 2];
  EXPECT_NE(usage_event.data.find("\"choices\":[]"), std::string::npos) << usage_event.data;
  EXPECT_NE(usage_event.data.find("\"completion_tokens\":6"), std::string::npos) << usage_event.data;
  EXPECT_NE(usage_event.data.find("\"prompt_tokens\":" + std::to_string(prompt)), std::string::npos)
      << usage_event.data;

  // 4. Streamed with include_usage false: injected (set to true) and hidden again, 4 tokens.
  auto declined = client.stream("POST", "/v1/chat/completions", json, chat(kQwen, true, 4, 0));
  ASSERT_EQ(declined.status, 200) << declined.body;
  ASSERT_TRUE(declined.complete) << declined.error;
  for (const auto& e : declined.events) EXPECT_EQ(e.data.find("\"usage\""), std::string::npos) << e.data;

  // 5. No router matches: a line with the gateway's own 404 and no upstream.
  auto refused = client.post_json("/v1/chat/completions", chat(kGlm, false, 3));
  EXPECT_EQ(refused.status, 404);

  // The lines (written asynchronously, about 50 ms behind).
  const auto sent = Clock::now();
  std::vector<std::string> lines;
  const bool all = wait_until(
      [&] {
        lines = read_lines(log_path);
        return lines.size() >= 5;
      },
      3s, 10ms);
  const double written_ms = ms_since(sent);
  ASSERT_TRUE(all) << "only " << lines.size() << " access log lines after 3 s";
  EXPECT_LE(written_ms, 200.0) << "the access log took " << written_ms << " ms";
  EXPECT_EQ(lines.size(), 5u);

  std::map<std::int64_t, std::string> by_completion;  // completion tokens -> line
  std::string refused_line;
  for (const auto& line : lines) {
    Json j(line);
    ASSERT_TRUE(j.ok) << "not JSON: " << line;
    if (num(j.root, "status") == 404) {
      refused_line = line;
    } else {
      by_completion[num(j.root, "completion_tokens")] = line;
    }
  }
  struct Expect {
    std::int64_t completion;
    bool stream;
  };
  for (const auto& [tokens, stream] : {Expect{7, false}, Expect{5, true}, Expect{6, true}, Expect{4, true}}) {
    SCOPED_TRACE("request with " + std::to_string(tokens) + " tokens");
    ASSERT_TRUE(by_completion.contains(tokens)) << "no line with completion_tokens " << tokens << "; lines:\n"
                                                << ::testing::PrintToString(lines);
    Json j(by_completion[tokens]);
    const auto& line = by_completion[tokens];
    EXPECT_EQ(str(j.root, "upstream"), url(a)) << line;
    EXPECT_EQ(str(j.root, "router"), "chat") << line;
    EXPECT_EQ(str(j.root, "service"), "qwen-pool") << line;
    EXPECT_EQ(str(j.root, "model"), kQwen) << line;
    EXPECT_EQ(str(j.root, "method"), "POST") << line;
    EXPECT_EQ(str(j.root, "path"), "/v1/chat/completions") << line;
    EXPECT_EQ(num(j.root, "status"), 200) << line;
    bool is_stream = !stream;
    EXPECT_FALSE(j.root["stream"].get(is_stream)) << line;
    EXPECT_EQ(is_stream, stream) << line;
    EXPECT_EQ(num(j.root, "prompt_tokens"), prompt) << line;
    EXPECT_EQ(num(j.root, "attempts"), 1) << line;
    double ttft = -1;
    const bool has_ttft = !j.root["ttft_ms"].get(ttft);
    if (stream) {
      EXPECT_TRUE(has_ttft && ttft >= 15.0) << "a stream's ttft_ms (sim ttft 20 ms): " << line;
    } else {
      EXPECT_FALSE(has_ttft) << "ttft_ms is for streams only: " << line;
    }
    double duration = -1;
    EXPECT_FALSE(j.root["duration_ms"].get(duration)) << line;
    EXPECT_GE(duration, 15.0) << line;
  }
  ASSERT_FALSE(refused_line.empty());
  Json r(refused_line);
  EXPECT_EQ(str(r.root, "upstream"), "") << refused_line;
  EXPECT_EQ(str(r.root, "router"), "") << refused_line;
  EXPECT_EQ(num(r.root, "attempts"), 0) << refused_line;
  EXPECT_EQ(num(r.root, "prompt_tokens"), -1) << refused_line;
}

TEST(GatewayMetrics, CountersMatchTheTrafficServerUpFollowsHealthAndPromtoolAccepts) {
  mt::SimProcess a("vm02", {"--models", kQwen});
  mt::SimProcess b("vm03", {"--models", kBoth});
  mt::GatewayProcess gw(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
http:
  routers:
    chat:
      rule: "PathPrefix(`/v1`) && Model(`Qwen2.5-0.5B-Instruct`)"
      service: pool
  services:
    pool:
      loadBalancer:
        servers:
          - url: )y" + url(a) +
                        R"y(
          - url: )y" + url(b) +
                        R"y(
        healthCheck:
          path: /health
          interval: 300ms
          timeout: 250ms
          fall: 1
          rise: 1
)y");
  mt::HttpClient client("127.0.0.1", gw.port());
  mt::HttpClient admin("127.0.0.1", admin_port(gw.process()), 5s);
  const mt::Headers json = {{"Content-Type", "application/json"}};

  // N requests, streamed and not, with usage summed from what the client sees (for streams
  // that did not ask for usage: the same prompt as a non-streamed one, max_tokens tokens).
  constexpr int kRequests = 24;
  std::int64_t prompt_sum = 0, completion_sum = 0, prompt_each = -1;
  int ok = 0, streamed = 0;
  for (int i = 0; i < kRequests; ++i) {
    const int tokens = 1 + i % 9;
    if (i % 3 == 2) {
      auto s = client.stream("POST", "/v1/chat/completions", json, chat(kQwen, true, tokens, i % 2));
      ok += s.status == 200 && s.complete;
      ++streamed;
    } else {
      auto r = client.post_json("/v1/chat/completions", chat(kQwen, false, tokens));
      ok += r.status == 200;
      auto [p, c] = usage_of(r.body);
      EXPECT_EQ(c, tokens);
      prompt_each = p;
    }
    completion_sum += tokens;
  }
  ASSERT_EQ(ok, kRequests);
  ASSERT_GT(prompt_each, 0);
  prompt_sum = prompt_each * kRequests;

  mt::Response scrape;
  std::vector<Sample> samples;
  const bool counted = wait_until(
      [&] {
        scrape = admin.get("/metrics");
        samples = parse_samples(scrape.body);
        return sum(samples, "modelgate_requests_total", {"code=\"200\""}) >= kRequests;
      },
      3s);
  ASSERT_EQ(scrape.status, 200) << scrape.error;
  EXPECT_TRUE(counted) << scrape.body;
  EXPECT_EQ(scrape.header("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u)
      << scrape.header("Content-Type");
  EXPECT_EQ(sum(samples, "modelgate_requests_total", {"code=\"200\""}), kRequests) << scrape.body;
  EXPECT_EQ(
      sum(samples, "modelgate_requests_total",
          {"router=\"chat\"", "service=\"pool\"", std::string("model=\"") + kQwen + "\"", "code=\"200\""}),
      kRequests)
      << scrape.body;
  EXPECT_EQ(
      sum(samples, "modelgate_tokens_total", {std::string("model=\"") + kQwen + "\"", "kind=\"prompt\""}),
      static_cast<double>(prompt_sum))
      << scrape.body;
  EXPECT_EQ(
      sum(samples, "modelgate_tokens_total", {std::string("model=\"") + kQwen + "\"", "kind=\"completion\""}),
      static_cast<double>(completion_sum))
      << scrape.body;
  EXPECT_EQ(sum(samples, "modelgate_request_duration_seconds_count"), kRequests) << scrape.body;
  EXPECT_EQ(sum(samples, "modelgate_time_to_first_token_seconds_count"), streamed) << scrape.body;
  EXPECT_EQ(sum(samples, "modelgate_server_up", {"server=\"" + url(a) + "\""}), 1) << scrape.body;
  EXPECT_EQ(sum(samples, "modelgate_server_up", {"server=\"" + url(b) + "\""}), 1) << scrape.body;
  EXPECT_TRUE(has_sample(samples, "process_open_fds", "") || sum(samples, "process_open_fds") > 0)
      << scrape.body;

  {
    auto check = promtool_check(scrape.body);
    EXPECT_EQ(check.exit_code, 0) << "promtool check metrics:\n"
                                  << check.output << "\n--- scraped ---\n"
                                  << scrape.body;
  }

  // A refused request is counted under its status too.
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat(kGlm, false, 2)).status, 404);
  EXPECT_TRUE(wait_until(
      [&] {
        samples = parse_samples(admin.get("/metrics").body);
        return sum(samples, "modelgate_requests_total", {"code=\"404\""}) == 1;
      },
      2s))
      << "the 404 is not counted";

  // B killed: its server_up goes to 0 within the health interval (300 ms, fall 1) plus slack.
  b.process().kill();
  b.process().wait(5s);
  const auto killed = Clock::now();
  std::string text;
  const bool down = wait_until(
      [&] {
        text = admin.get("/metrics").body;
        samples = parse_samples(text);
        return has_sample(samples, "modelgate_server_up", "server=\"" + url(b) + "\"") &&
               sum(samples, "modelgate_server_up", {"server=\"" + url(b) + "\""}) == 0;
      },
      3s, 10ms);
  const double down_ms = ms_since(killed);
  ASSERT_TRUE(down) << text;
  EXPECT_LT(down_ms, 1000.0) << "server_up took " << down_ms << " ms to fall (interval 300 ms, fall 1)";
  EXPECT_EQ(sum(samples, "modelgate_server_up", {"server=\"" + url(a) + "\""}), 1) << text;
  {
    auto check = promtool_check(text);
    EXPECT_EQ(check.exit_code, 0) << "promtool check metrics:\n"
                                  << check.output << "\n--- scraped ---\n"
                                  << text;
  }
}

TEST(GatewayUpstreamHeader, RouterOptionNamesTheServerThatAnswered) {
  mt::SimProcess a("vm02", {"--models", kQwen});
  mt::SimProcess b("vm03", {"--models", kBoth});
  mt::GatewayProcess gw(R"y(
entryPoints:
  web:
    address: "127.0.0.1:0"
admin:
  address: "127.0.0.1:0"
http:
  routers:
    qwen:
      rule: "Model(`Qwen2.5-0.5B-Instruct`)"
      service: pool
      upstreamHeader: true
    glm4:
      rule: "Model(`glm4-9b-chat`)"
      service: machine-b
  services:
    pool:
      loadBalancer:
        servers:
          - url: )y" + url(a) +
                        R"y(
          - url: )y" + url(b) +
                        R"y(
    machine-b:
      loadBalancer:
        servers:
          - url: )y" + url(b) +
                        "\n");
  mt::HttpClient client("127.0.0.1", gw.port());
  const std::map<std::string, std::string> by_name = {{"vm02", url(a)}, {"vm03", url(b)}};
  std::map<std::string, int> seen;
  for (int i = 0; i < 6; ++i) {
    auto r = client.post_json("/v1/chat/completions", chat(kQwen, false, 3));
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(r.has_header("X-Upstream")) << "router qwen has upstreamHeader: true";
    EXPECT_EQ(r.header("X-Upstream"), by_name.at(r.header("X-Served-By")));
    ++seen[r.header("X-Upstream")];
  }
  EXPECT_EQ(seen.size(), 2u) << "both servers answered and were named";
  auto s = client.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                         chat(kQwen, true, 3));
  ASSERT_EQ(s.status, 200);
  EXPECT_TRUE(s.complete) << s.error;
  EXPECT_EQ(s.header("X-Upstream"), by_name.at(s.header("X-Served-By")));
  // The other router does not ask for it.
  auto g = client.post_json("/v1/chat/completions", chat(kGlm, false, 3));
  ASSERT_EQ(g.status, 200) << g.body;
  EXPECT_FALSE(g.has_header("X-Upstream")) << g.header("X-Upstream");
}
