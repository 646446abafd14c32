#include "observability/access_log.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace mo = modelgate::observability;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

// A fresh directory per test, removed afterwards.
class AccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("modelgate-access-log-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  modelgate::config::AccessLog config(std::string format, std::vector<std::string> fields = {}) {
    modelgate::config::AccessLog c;
    c.enabled = true;
    c.path = (dir_ / "access.log").string();
    c.format = std::move(format);
    c.fields = std::move(fields);
    return c;
  }

  static std::string read(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  }

  fs::path dir_;
};

mo::RequestRecord sample() {
  mo::RequestRecord r;
  // 2024-05-01T12:34:56.789Z
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1714566896789));
  r.client = "203.0.113.7";
  r.method = "POST";
  r.path = "/v1/chat/completions";
  r.status = 200;
  r.bytes_in = 120;
  r.bytes_out = 2326;
  r.duration = 1234567us;
  r.upstream = "http://10.0.0.5:8000";
  r.router = "chat";
  r.service = "qwen-pool";
  r.model = "Qwen2.5-0.5B-Instruct";
  r.stream = true;
  r.ttfb = 80ms;
  r.ttft = 85500us;
  r.prompt_tokens = 42;
  r.completion_tokens = 17;
  r.attempts = 1;
  r.worker = 1;
  return r;
}

}  // namespace

TEST_F(AccessLogTest, CommonFormat) {
  mo::AccessLog log(config("common"), 2);
  auto r = sample();
  log.log(r);  // worker 1
  r.worker = 0;
  r.status = 404;
  r.router.clear();
  r.service.clear();
  r.upstream.clear();
  r.model.clear();
  r.stream = false;
  r.ttfb.reset();
  r.ttft.reset();
  r.prompt_tokens.reset();
  r.completion_tokens.reset();
  r.attempts = 0;
  r.bytes_out = 0;
  r.path = "/nope?q=\"x\"\n";
  log.log(r);
  log.flush();
  const auto text = read(dir_ / "access.log");
  const std::string full =
      "203.0.113.7 - - [01/May/2024:12:34:56 +0000] \"POST /v1/chat/completions HTTP/1.1\" 200 2326 "
      "\"chat\" \"qwen-pool\" \"http://10.0.0.5:8000\" model=Qwen2.5-0.5B-Instruct stream=true "
      "ttft_ms=85.500 prompt_tokens=42 completion_tokens=17 attempts=1 duration_ms=1234.567\n";
  const std::string bare =
      "203.0.113.7 - - [01/May/2024:12:34:56 +0000] \"POST /nope?q=\\\"x\\\"\\x0A HTTP/1.1\" 404 0 \"-\" "
      "\"-\" \"-\" model=- stream=false ttft_ms=- prompt_tokens=- completion_tokens=- attempts=0 "
      "duration_ms=1234.567\n";
  // Lines of different workers may interleave in either order.
  EXPECT_TRUE(text == full + bare || text == bare + full) << text;
  EXPECT_EQ(log.written(), 2u);
  EXPECT_EQ(log.dropped(), 0u);
}

TEST_F(AccessLogTest, CommonFormatQuotesAnUnusualModel) {
  mo::AccessLog log(config("common"));
  auto r = sample();
  r.worker = 0;
  r.model = "my model=\"x\"";
  std::string line;
  log.format(line, r);
  EXPECT_NE(line.find(R"( model="my model=\"x\"" stream=true)"), std::string::npos) << line;
}

// The API key's name (never the key) goes where Common Log Format has its authenticated user, and
// into the JSON only when there is one.
TEST_F(AccessLogTest, TheKeyNameIsTheUserFieldAndAJsonFieldWhenThereIsOne) {
  auto r = sample();
  r.key = "team-a";
  std::string common, json;
  mo::AccessLog(config("common")).format(common, r);
  mo::AccessLog(config("json", {"status", "key"})).format(json, r);
  EXPECT_TRUE(common.starts_with("203.0.113.7 - team-a [01/May/2024:12:34:56 +0000] ")) << common;
  EXPECT_EQ(json, "{\"status\":200,\"key\":\"team-a\"}\n");
  r.key.clear();
  json.clear();
  mo::AccessLog(config("json", {"status", "key"})).format(json, r);
  EXPECT_EQ(json, "{\"status\":200}\n");
}

TEST_F(AccessLogTest, JsonFormat) {
  mo::AccessLog log(config("json"));
  auto r = sample();
  r.worker = 0;
  log.log(r);
  r.ttft.reset();
  r.completion_tokens.reset();
  r.model = "a\"b\\c\x01\xff";
  log.log(r);
  log.stop();
  const auto text = read(dir_ / "access.log");
  EXPECT_EQ(text,
            R"({"time":"2024-05-01T12:34:56.789Z","client":"203.0.113.7","method":"POST",)"
            R"("path":"/v1/chat/completions","status":200,"bytes_in":120,"bytes_out":2326,)"
            R"("duration_ms":1234.567,"upstream":"http://10.0.0.5:8000","router":"chat","service":"qwen-pool",)"
            R"("model":"Qwen2.5-0.5B-Instruct","stream":true,"ttfb_ms":80.000,"ttft_ms":85.500,)"
            R"("prompt_tokens":42,"completion_tokens":17,"attempts":1,"worker":0})"
            "\n"
            R"({"time":"2024-05-01T12:34:56.789Z","client":"203.0.113.7","method":"POST",)"
            R"("path":"/v1/chat/completions","status":200,"bytes_in":120,"bytes_out":2326,)"
            R"("duration_ms":1234.567,"upstream":"http://10.0.0.5:8000","router":"chat","service":"qwen-pool",)"
            R"("model":"a\"b\\c\u0001\ufffd","stream":true,"ttfb_ms":80.000,"ttft_ms":null,)"
            R"("prompt_tokens":42,"completion_tokens":null,"attempts":1,"worker":0})"
            "\n");
}

TEST_F(AccessLogTest, JsonFieldsFilter) {
  mo::AccessLog log(config("json", {"model", "status", "ttft_ms"}));
  auto r = sample();
  r.worker = 0;
  log.log(r);
  log.flush();
  // Keys keep the canonical order, whatever the order of `fields`.
  EXPECT_EQ(read(dir_ / "access.log"), "{\"status\":200,\"model\":\"Qwen2.5-0.5B-Instruct\",\"ttft_ms\":85.500}\n");
}

TEST_F(AccessLogTest, RejectsUnknownFieldsAndFormats) {
  try {
    mo::AccessLog log(config("json", {"status", "colour"}));
    FAIL() << "accepted an unknown field";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("accessLog.fields: unknown field \"colour\""), std::string::npos);
  }
  EXPECT_THROW(mo::AccessLog(config("xml")), std::runtime_error);
  auto c = config("common");
  c.path = (dir_ / "missing-dir" / "access.log").string();
  EXPECT_THROW(mo::AccessLog{c}, std::runtime_error);
}

TEST_F(AccessLogTest, ReopenAfterRename) {
  mo::AccessLog log(config("common"));
  auto r = sample();
  r.worker = 0;
  r.path = "/before";
  log.log(r);
  log.flush();
  fs::rename(dir_ / "access.log", dir_ / "access.log.1");
  r.path = "/still-old";  // logged before the signal: goes to the renamed file
  log.log(r);
  log.flush();
  log.reopen();
  r.path = "/after";
  log.log(r);
  log.flush();
  const auto old_text = read(dir_ / "access.log.1");
  const auto new_text = read(dir_ / "access.log");
  EXPECT_NE(old_text.find("/before"), std::string::npos);
  EXPECT_NE(old_text.find("/still-old"), std::string::npos);
  EXPECT_EQ(old_text.find("/after"), std::string::npos);
  EXPECT_NE(new_text.find("/after"), std::string::npos);
  EXPECT_EQ(new_text.find("/before"), std::string::npos);
}

TEST_F(AccessLogTest, WritesWithoutFlushWithinTheInterval) {
  mo::AccessLog log(config("common"));
  auto r = sample();
  r.worker = 0;
  log.log(r);
  // The writer's timer (50 ms) must write it without help; allow a slow machine 2 s.
  for (int i = 0; i < 200 && read(dir_ / "access.log").empty(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(read(dir_ / "access.log").empty());
}

TEST_F(AccessLogTest, FullRingDropsAndCounts) {
  mo::AccessLogOptions options;
  options.queue_capacity = 8;
  options.flush_interval = 10s;
  mo::AccessLog log(config("common"), 2, options);
  auto r = sample();
  r.worker = 0;
  constexpr int kLogged = 1000;
  for (int i = 0; i < kLogged; ++i) log.log(r);
  r.worker = 7;  // no such worker: refused, counted
  log.log(r);
  log.flush();
  EXPECT_GT(log.dropped(), 0u);
  EXPECT_EQ(log.written() + log.dropped(), kLogged + 1u);
  std::istringstream in(read(dir_ / "access.log"));
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, log.written());
}

TEST_F(AccessLogTest, ManyWorkersConcurrently) {
  constexpr unsigned kWorkers = 4;
  constexpr int kEach = 5000;
  mo::AccessLogOptions options;
  options.queue_capacity = 1 << 16;  // large enough to never drop here
  mo::AccessLog log(config("json", {"worker", "status"}), kWorkers, options);
  std::vector<std::thread> threads;
  for (unsigned w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      auto r = sample();
      r.worker = w;
      for (int i = 0; i < kEach; ++i) {
        r.status = 200 + i % 100;
        log.log(r);
      }
    });
  }
  for (auto& t : threads) t.join();
  log.stop();
  EXPECT_EQ(log.dropped(), 0u);
  std::istringstream in(read(dir_ / "access.log"));
  std::size_t lines = 0;
  for (std::string line; std::getline(in, line);) {
    ASSERT_TRUE(line.starts_with("{\"status\":") && line.ends_with("}")) << line;
    ++lines;
  }
  EXPECT_EQ(lines, kWorkers * kEach);
  log.log(sample());  // ignored after stop
  EXPECT_EQ(log.written(), kWorkers * kEach);
}

TEST_F(AccessLogTest, DisabledDoesNothing) {
  auto c = config("common");
  c.enabled = false;
  mo::AccessLog log(c);
  log.log(sample());
  log.flush();
  log.stop();
  EXPECT_FALSE(fs::exists(dir_ / "access.log"));
}
