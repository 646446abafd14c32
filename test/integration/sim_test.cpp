// The simulated model server, run as the real binary (`modelgate sim`), checked over HTTP:
// the OpenAI API shapes, real timing, queueing, admin, faults and client disconnects.
// Every sim binds port 0; every wait is bounded.
#include <atomic>
#include <csignal>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>
#include <simdjson.h>

#include "sim/sim.h"
#include "support/http_client.h"
#include "support/process.h"
#include "support/sim_process.h"
#include "support/wait.h"

namespace modelgate::test {
namespace {

using Clock = std::chrono::steady_clock;

// A parsed JSON document (a parser per document keeps elements valid).
struct Json {
  explicit Json(const std::string& text) { root = parser.parse(text); }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
};

std::string chat_body(std::string_view model, int max_tokens = -1, bool stream = false,
                      bool include_usage = false) {
  std::string body = R"({"model":")" + std::string(model) +
                     R"(","messages":[{"role":"user","content":"hello there sim"}])";
  if (max_tokens >= 0) body += ",\"max_tokens\":" + std::to_string(max_tokens);
  if (stream) body += R"(,"stream":true)";
  if (include_usage) body += R"(,"stream_options":{"include_usage":true})";
  return body + "}";
}

Json stats(HttpClient& client) {
  auto r = client.get("/admin/stats");
  EXPECT_EQ(r.status, 200) << r.error;
  return Json(r.body);
}

// Polls /admin/stats until `predicate` holds or `timeout` passes.
template <typename Predicate>
bool wait_for_stats(HttpClient& client, Predicate predicate, std::chrono::milliseconds timeout) {
  return wait_until([&] { return predicate(stats(client).root); }, timeout);
}

std::int64_t field(simdjson::dom::element e, const char* name) { return std::int64_t(e[name]); }

TEST(Sim, AnnouncesAndServesHealth) {
  SimProcess sim("vm02");
  EXPECT_NE(sim.port(), 0);
  EXPECT_NE(sim.process().output().find("sim vm02 listening on 127.0.0.1:" + std::to_string(sim.port()) + "\n"),
            std::string::npos);
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.get("/health");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.body, R"({"status":"ok"})");
  EXPECT_EQ(r.header("x-served-by"), "vm02");
}

TEST(Sim, ListsModels) {
  SimProcess sim("vm02", {"--models", "alpha,beta"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.get("/v1/models");
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("Content-Type"), "application/json");
  Json j(r.body);
  EXPECT_EQ(std::string_view(j.root["object"]), "list");
  auto data = simdjson::dom::array(j.root["data"]);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(std::string_view(data.at(0)["id"]), "alpha");
  EXPECT_EQ(std::string_view(data.at(1)["id"]), "beta");
  EXPECT_EQ(std::string_view(data.at(0)["object"]), "model");
  EXPECT_EQ(std::string_view(data.at(0)["owned_by"]), "vm02");
  EXPECT_GT(std::int64_t(data.at(0)["created"]), 0);
}

TEST(Sim, NonStreamedChatCompletion) {
  SimProcess sim("vm02", {"--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.post_json("/v1/chat/completions", chat_body("m", 3));
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("X-Served-By"), "vm02");
  Json j(r.body);
  EXPECT_EQ(std::string_view(j.root["object"]), "chat.completion");
  EXPECT_EQ(std::string_view(j.root["model"]), "m");
  EXPECT_EQ(std::string_view(j.root["system_fingerprint"]), "vm02");
  EXPECT_TRUE(std::string_view(j.root["id"]).starts_with("chatcmpl-"));
  auto choice = j.root["choices"].at(0);
  EXPECT_EQ(std::string_view(choice["message"]["role"]), "assistant");
  EXPECT_EQ(std::string_view(choice["message"]["content"]), "token1 token2 token3 ");
  EXPECT_EQ(std::string_view(choice["finish_reason"]), "length");
  EXPECT_EQ(field(j.root["usage"], "prompt_tokens"), 3);  // "hello there sim"
  EXPECT_EQ(field(j.root["usage"], "completion_tokens"), 3);
  EXPECT_EQ(field(j.root["usage"], "total_tokens"), 6);
}

TEST(Sim, MaxTokensDefaultsAndAliases) {
  SimProcess sim("vm02", {"--models", "m", "--max-tokens", "4"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.post_json("/v1/chat/completions", chat_body("m"));
  ASSERT_EQ(r.status, 200) << r.error;
  Json a(r.body);
  EXPECT_EQ(field(a.root["usage"], "completion_tokens"), 4);
  EXPECT_EQ(std::string_view(a.root["choices"].at(0)["finish_reason"]), "stop");

  r = client.post_json("/v1/chat/completions",
                       R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":2})");
  ASSERT_EQ(r.status, 200) << r.error;
  Json b(r.body);
  EXPECT_EQ(std::string_view(b.root["choices"].at(0)["message"]["content"]), "token1 token2 ");

  r = client.post_json("/v1/chat/completions", chat_body("m", 0));
  ASSERT_EQ(r.status, 200) << r.error;
  Json c(r.body);
  EXPECT_EQ(std::string_view(c.root["choices"].at(0)["message"]["content"]), "");
}

TEST(Sim, TextCompletions) {
  SimProcess sim("vm02", {"--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.post_json("/v1/completions", R"({"model":"m","prompt":"one two","max_tokens":2})");
  ASSERT_EQ(r.status, 200) << r.error;
  Json j(r.body);
  EXPECT_EQ(std::string_view(j.root["object"]), "text_completion");
  EXPECT_EQ(std::string_view(j.root["choices"].at(0)["text"]), "token1 token2 ");
  EXPECT_EQ(field(j.root["usage"], "prompt_tokens"), 2);

  auto s = client.stream("POST", "/v1/completions", {{"Content-Type", "application/json"}},
                         R"({"model":"m","prompt":["a b","c"],"max_tokens":2,"stream":true})");
  ASSERT_TRUE(s.complete) << s.error;
  ASSERT_EQ(s.events.size(), 4u);  // 2 tokens, finish, [DONE]
  Json e(s.events[0].data);
  EXPECT_EQ(std::string_view(e.root["object"]), "text_completion");
  EXPECT_EQ(std::string_view(e.root["choices"].at(0)["text"]), "token1 ");
  EXPECT_EQ(s.events[3].data, "[DONE]");
}

TEST(Sim, StreamsOneEventPerTokenInRealTime) {
  constexpr int ttft = 300, tpot = 100, tokens = 6;
  SimProcess sim("vm02", {"--models", "m", "--ttft-ms", std::to_string(ttft), "--tpot-ms",
                          std::to_string(tpot)});
  HttpClient client("127.0.0.1", sim.port());
  auto s = client.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                         chat_body("m", tokens, true));
  ASSERT_TRUE(s.complete) << s.error;
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.header("Content-Type"), "text/event-stream");
  EXPECT_EQ(s.header("Transfer-Encoding"), "chunked");
  EXPECT_EQ(s.header("X-Served-By"), "vm02");
  EXPECT_LT(s.headers_at.count(), ttft / 2) << "the head is sent before the first token";

  ASSERT_EQ(s.events.size(), tokens + 2u);  // tokens, finish, [DONE]
  for (int i = 0; i < tokens; ++i) {
    Json e(s.events[i].data);
    EXPECT_EQ(std::string_view(e.root["object"]), "chat.completion.chunk");
    EXPECT_EQ(std::string_view(e.root["choices"].at(0)["delta"]["content"]),
              "token" + std::to_string(i + 1) + " ");
    EXPECT_TRUE(e.root["choices"].at(0)["finish_reason"].is_null());
    // Token i is due at ttft + i*tpot after the sim got the request, which is after we sent it.
    EXPECT_GE(s.events[i].at.count(), ttft + i * tpot - 2) << "event " << i;
    EXPECT_LT(s.events[i].at.count(), ttft + i * tpot + 250) << "event " << i;
    if (i > 0) {
      EXPECT_GT((s.events[i].at - s.events[i - 1].at).count(), tpot / 3) << "event " << i;
    }
  }
  Json first(s.events[0].data);
  EXPECT_EQ(std::string_view(first.root["choices"].at(0)["delta"]["role"]), "assistant");
  Json finish(s.events[tokens].data);
  EXPECT_EQ(std::string_view(finish.root["choices"].at(0)["finish_reason"]), "length");
  EXPECT_EQ(s.events[tokens + 1].data, "[DONE]");
  EXPECT_EQ(s.body.find("usage"), std::string::npos) << "usage only when include_usage is set";
}

TEST(Sim, StreamIncludesUsageOnRequest) {
  SimProcess sim("vm02", {"--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  auto s = client.stream("POST", "/v1/chat/completions", {{"Content-Type", "application/json"}},
                         chat_body("m", 3, true, true));
  ASSERT_TRUE(s.complete) << s.error;
  ASSERT_EQ(s.events.size(), 6u);  // 3 tokens, finish, usage, [DONE]
  Json usage(s.events[4].data);
  EXPECT_EQ(simdjson::dom::array(usage.root["choices"]).size(), 0u);
  EXPECT_EQ(field(usage.root["usage"], "completion_tokens"), 3);
  EXPECT_EQ(field(usage.root["usage"], "prompt_tokens"), 3);
  EXPECT_EQ(field(usage.root["usage"], "total_tokens"), 6);
  EXPECT_EQ(s.events[5].data, "[DONE]");
}

TEST(Sim, RejectsUnknownModelAndBadJson) {
  SimProcess sim("vm02", {"--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.post_json("/v1/chat/completions", chat_body("nope"));
  EXPECT_EQ(r.status, 404) << r.error;
  EXPECT_EQ(r.header("X-Served-By"), "vm02");
  Json j(r.body);
  EXPECT_EQ(std::string_view(j.root["error"]["message"]), "The model `nope` does not exist.");
  EXPECT_EQ(std::string_view(j.root["error"]["type"]), "invalid_request_error");
  EXPECT_EQ(std::string_view(j.root["error"]["code"]), "model_not_found");

  r = client.post_json("/v1/chat/completions", R"({"model":"m","messages":[)");
  EXPECT_EQ(r.status, 400) << r.error;
  Json bad(r.body);
  EXPECT_EQ(std::string_view(bad.root["error"]["type"]), "invalid_request_error");

  r = client.post_json("/v1/chat/completions", R"({"model":"m","messages":[],"max_tokens":-1})");
  EXPECT_EQ(r.status, 400);
  r = client.get("/nowhere");
  EXPECT_EQ(r.status, 404);
  // The connection survived every error.
  EXPECT_EQ(client.get("/health").status, 200);
}

TEST(Sim, Embeddings) {
  SimProcess sim("vm02", {"--models", "e"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.post_json("/v1/embeddings", R"({"model":"e","input":["a b c","d"]})");
  ASSERT_EQ(r.status, 200) << r.error;
  Json j(r.body);
  auto data = simdjson::dom::array(j.root["data"]);
  ASSERT_EQ(data.size(), 2u);
  EXPECT_EQ(std::string_view(data.at(0)["object"]), "embedding");
  EXPECT_EQ(simdjson::dom::array(data.at(1)["embedding"]).size(), 8u);
  EXPECT_EQ(field(j.root["usage"], "prompt_tokens"), 4);
  // Deterministic: the same input gives the same vector.
  auto again = client.post_json("/v1/embeddings", R"({"model":"e","input":"a b c"})");
  Json k(again.body);
  EXPECT_EQ(simdjson::to_string(data.at(0)["embedding"]), simdjson::to_string(k.root["data"].at(0)["embedding"]));
  EXPECT_EQ(client.post_json("/v1/embeddings", R"({"model":"x","input":"a"})").status, 404);
}

TEST(Sim, QueuesBeyondMaxConcurrency) {
  constexpr int ttft = 400;
  SimProcess sim("vm02", {"--models", "m", "--ttft-ms", std::to_string(ttft), "--max-concurrency", "2"});
  HttpClient admin("127.0.0.1", sim.port());
  const auto start = Clock::now();
  std::vector<std::future<std::pair<int, Millis>>> done;
  // Arrival order 0, 1, 2: each is sent once the sim has counted the one before.
  for (int i = 0; i < 3; ++i) {
    done.push_back(std::async(std::launch::async, [&] {
      HttpClient client("127.0.0.1", sim.port());
      auto r = client.post_json("/v1/chat/completions", chat_body("m", 1));
      return std::pair<int, Millis>(r.status, Clock::now() - start);
    }));
    EXPECT_TRUE(wait_for_stats(admin, [&](auto s) { return field(s, "requests") == i + 1; }, 2s)) << i;
  }
  EXPECT_TRUE(wait_for_stats(admin, [](auto s) { return field(s, "queued") == 1 && field(s, "inflight") == 2; },
                             2s));
  std::vector<std::pair<int, Millis>> results;
  for (auto& f : done) results.push_back(f.get());
  for (auto& [status, at] : results) EXPECT_EQ(status, 200);
  EXPECT_LT(results[0].second.count(), 2 * ttft);
  EXPECT_LT(results[1].second.count(), 2 * ttft);
  EXPECT_GE(results[2].second.count(), 2 * ttft) << "the third waited for a slot";
  Json s = stats(admin);
  EXPECT_EQ(field(s.root, "max_inflight"), 2);
  EXPECT_EQ(field(s.root, "completed"), 3);
  EXPECT_EQ(field(s.root, "queued"), 0);
  EXPECT_EQ(field(s.root, "inflight"), 0);
}

TEST(Sim, ConcurrencyLimitHoldsAcrossThreads) {
  SimProcess sim("vm02", {"--models", "m", "--threads", "2", "--max-concurrency", "3", "--ttft-ms", "5",
                          "--tpot-ms", "1"});
  constexpr int clients = 8, each = 15;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      HttpClient client("127.0.0.1", sim.port());
      for (int i = 0; i < each; ++i) {
        bool stream = (c + i) % 2 == 0;
        if (stream) {
          auto s = client.stream("POST", "/v1/chat/completions", {}, chat_body("m", 3, true));
          ok += s.complete && s.events.size() == 5;
        } else {
          ok += client.post_json("/v1/chat/completions", chat_body("m", 3)).status == 200;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, clients * each);
  HttpClient admin("127.0.0.1", sim.port());
  Json s = stats(admin);
  EXPECT_EQ(field(s.root, "max_inflight"), 3);
  EXPECT_EQ(field(s.root, "completed"), clients * each);
  EXPECT_EQ(field(s.root, "inflight"), 0);
  EXPECT_EQ(field(s.root, "queued"), 0);
}

TEST(Sim, AdminAddsAndRemovesModels) {
  SimProcess sim("vm02", {"--models", "m", "--threads", "2"});
  HttpClient client("127.0.0.1", sim.port());
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat_body("org/new")).status, 404);
  auto r = client.post_json("/admin/models", R"({"id":"org/new"})");
  EXPECT_EQ(r.status, 201) << r.error;
  // Another connection may land on the other thread: the change is visible there too.
  for (int i = 0; i < 4; ++i) {
    HttpClient other("127.0.0.1", sim.port());
    EXPECT_EQ(other.post_json("/v1/chat/completions", chat_body("org/new")).status, 200);
  }
  EXPECT_NE(client.get("/v1/models").body.find("\"org/new\""), std::string::npos);
  EXPECT_EQ(client.request("DELETE", "/admin/models/org%2Fnew").status, 204);
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat_body("org/new")).status, 404);
  EXPECT_EQ(client.request("DELETE", "/admin/models/org%2Fnew").status, 404);
  EXPECT_EQ(client.post_json("/admin/models", R"({"name":1})").status, 400);
}

TEST(Sim, PerRequestOverrides) {
  SimProcess sim("vm02", {"--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  auto r = client.post_json("/v1/chat/completions", chat_body("m"), {{"X-Sim-Status", "503"}});
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.header("X-Served-By"), "vm02");
  Json j(r.body);
  EXPECT_EQ(std::string_view(j.root["error"]["type"]), "server_error");

  const auto start = Clock::now();
  r = client.post_json("/v1/chat/completions", chat_body("m", 3),
                       {{"X-Sim-Ttft-Ms", "150"}, {"X-Sim-Tpot-Ms", "50"}});
  Millis took = Clock::now() - start;
  EXPECT_EQ(r.status, 200);
  EXPECT_GE(took.count(), 150 + 2 * 50);  // ttft + (n-1)·tpot
  EXPECT_LT(took.count(), 150 + 2 * 50 + 300);
}

TEST(Sim, ClientDisconnectIsCountedAsAborted) {
  SimProcess sim("vm02", {"--models", "m", "--ttft-ms", "5000", "--max-concurrency", "1"});
  HttpClient admin("127.0.0.1", sim.port());
  {
    HttpClient impatient("127.0.0.1", sim.port(), 200ms);
    EXPECT_EQ(impatient.post_json("/v1/chat/completions", chat_body("m")).status, 0);  // timed out
  }
  EXPECT_TRUE(wait_for_stats(admin, [](auto s) { return field(s, "aborted") == 1 && field(s, "inflight") == 0; },
                             1s));
  // Mid-stream: leave after two events.
  HttpClient streaming("127.0.0.1", sim.port());
  StreamOptions stop;
  stop.stop_after_events = 2;
  auto s = streaming.stream("POST", "/v1/chat/completions",
                            {{"X-Sim-Ttft-Ms", "10"}, {"X-Sim-Tpot-Ms", "100"}},
                            chat_body("m", 50, true), stop);
  EXPECT_EQ(s.events.size(), 2u) << s.error;
  const auto left = Clock::now();
  EXPECT_TRUE(wait_for_stats(admin, [](auto s) { return field(s, "inflight") == 0 && field(s, "queued") == 0; },
                             2s));
  EXPECT_LT(Millis(Clock::now() - left).count(), 500) << "the sim noticed promptly";
  Json st = stats(admin);
  EXPECT_EQ(field(st.root, "aborted"), 2);
  EXPECT_EQ(field(st.root, "completed"), 0);
  EXPECT_EQ(field(st.root, "requests"), 2);
}

TEST(Sim, QueuedRequestLeavesQueueWhenClientCloses) {
  SimProcess sim("vm02", {"--models", "m", "--ttft-ms", "3000", "--max-concurrency", "1"});
  HttpClient admin("127.0.0.1", sim.port());
  HttpClient holder("127.0.0.1", sim.port(), 5000ms);
  auto holding = std::async(std::launch::async, [&] { return holder.post_json("/v1/chat/completions", chat_body("m")); });
  ASSERT_TRUE(wait_for_stats(admin, [](auto s) { return field(s, "inflight") == 1; }, 2s));
  {
    HttpClient waiter("127.0.0.1", sim.port(), 300ms);
    EXPECT_EQ(waiter.post_json("/v1/chat/completions", chat_body("m")).status, 0);
  }
  EXPECT_TRUE(wait_for_stats(admin, [](auto s) { return field(s, "queued") == 0 && field(s, "aborted") == 1; }, 1s));
  EXPECT_EQ(holding.get().status, 200);
}

TEST(Sim, FaultFailRateAndStall) {
  SimProcess failing("bad", {"--models", "m", "--fail-rate", "1"});
  HttpClient a("127.0.0.1", failing.port());
  auto r = a.post_json("/v1/chat/completions", chat_body("m"));
  EXPECT_EQ(r.status, 500);
  EXPECT_NE(r.body.find("\"error\""), std::string::npos);

  SimProcess stalling("stall", {"--models", "m", "--stall-after-chunks", "2", "--tpot-ms", "10"});
  HttpClient b("127.0.0.1", stalling.port());
  StreamOptions opts;
  opts.timeout = 600ms;
  auto s = b.stream("POST", "/v1/chat/completions", {}, chat_body("m", 10, true), opts);
  EXPECT_EQ(s.status, 200);
  EXPECT_FALSE(s.complete);
  EXPECT_EQ(s.events.size(), 2u);
}

TEST(Sim, FaultHangAfter) {
  SimProcess sim("vm02", {"--models", "m", "--hang-after-ms", "300"});
  HttpClient client("127.0.0.1", sim.port(), 500ms);
  EXPECT_EQ(client.get("/health").status, 200);
  // It answers until 300 ms after its start, then never again: a request times out.
  Response r;
  EXPECT_TRUE(wait_until([&] { return (r = client.get("/health")).status != 200; }, 3s));
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.error.find("timeout"), std::string::npos) << r.error;
}

TEST(Sim, DiesAfterRequests) {
  SimProcess sim("vm02", {"--models", "m", "--die-after-requests", "2"});
  HttpClient client("127.0.0.1", sim.port());
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat_body("m")).status, 200);
  EXPECT_EQ(client.get("/health").status, 200);  // only generation requests count
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat_body("m")).status, 200);
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat_body("m")).status, 0);
  EXPECT_EQ(sim.process().wait(5s), 1);
}

TEST(Sim, ExitsZeroOnSigterm) {
  SimProcess sim("vm02", {"--threads", "2"});
  HttpClient client("127.0.0.1", sim.port());
  EXPECT_EQ(client.get("/health").status, 200);  // a kept-alive connection stays open
  sim.process().signal(SIGTERM);
  EXPECT_EQ(sim.process().wait(5s), 0);
}

TEST(Sim, KeepAliveChunkedRequestAndPipelining) {
  SimProcess sim("vm02", {"--models", "m"});
  HttpClient client("127.0.0.1", sim.port());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(client.post_json("/v1/chat/completions", chat_body("m", 1)).status, 200);
  EXPECT_TRUE(client.connected());

  std::string json = chat_body("m", 2);
  std::string half = json.substr(0, json.size() / 2), rest = json.substr(json.size() / 2);
  auto hex = [](std::size_t n) { char b[16]; std::snprintf(b, sizeof b, "%zx", n); return std::string(b); };
  std::string chunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                        hex(half.size()) + "\r\n" + half + "\r\n" + hex(rest.size()) + "\r\n" + rest +
                        "\r\n0\r\n\r\n";
  std::string two = chunked + "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto reply = raw_exchange(sim.port(), two, 3s);
  EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
  EXPECT_NE(reply.find("token1 token2 "), std::string::npos) << reply;
  EXPECT_NE(reply.find(R"({"status":"ok"})"), std::string::npos) << reply;

  auto garbage = raw_exchange(sim.port(), "NOT HTTP AT ALL\r\n\r\n", 3s);
  EXPECT_EQ(garbage.rfind("HTTP/1.1 400", 0), 0u) << garbage;
}

TEST(Sim, InProcessSimOnCallersIoContext) {
  boost::asio::io_context io;
  sim::SimOptions options;
  options.port = 0;
  options.name = "inproc";
  options.models = {"m"};
  sim::Sim a(io, options);
  sim::Sim b(io, options);
  EXPECT_NE(a.port(), b.port());
  std::thread runner([&] { io.run(); });
  HttpClient client("127.0.0.1", a.port());
  auto r = client.post_json("/v1/chat/completions", chat_body("m", 2));
  EXPECT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(r.header("X-Served-By"), "inproc");
  HttpClient idle("127.0.0.1", b.port());
  EXPECT_EQ(idle.get("/health").status, 200);
  a.stop();
  b.stop();
  runner.join();  // stop() closes every connection, so run() returns
  EXPECT_EQ(client.get("/health").status, 0);
}

}  // namespace
}  // namespace modelgate::test
