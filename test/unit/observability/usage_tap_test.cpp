#include "observability/usage_tap.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <random>

namespace mo = modelgate::observability;
using namespace std::chrono_literals;
using Clock = mo::UsageTap::Clock;

namespace {

// ---- inject_include_usage

// The body after injection, and whether it asks for usage (parsed by an independent parser).
bool asks_for_usage(const std::string& body) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) return false;
  bool b = false;
  return !doc.at_pointer("/stream_options/include_usage").get(b) && b;
}

struct InjectCase {
  std::string in;
  bool injected;
  std::string out;  // expected body; "" = unchanged
};

// ---- SSE streams

std::string chunk(std::string_view content) {
  return std::string(R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":)"
                     R"([{"index":0,"delta":{"content":")") +
         std::string(content) + R"("},"finish_reason":null}],"usage":null})" + "\n\n";
}

const std::string kFinish =
    R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":)"
    R"([{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null})"
    "\n\n";
const std::string kUsage =
    R"(data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],)"
    R"("usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}})"
    "\n\n";
const std::string kDone = "data: [DONE]\n\n";
const std::string kComment = ": keep-alive\n\n";

std::string with_line_ends(std::string s, std::string_view eol) {
  std::string out;
  for (char c : s) {
    if (c == '\n') out += eol;
    else out += c;
  }
  return out;
}

struct Result {
  std::string out;
  std::optional<std::uint64_t> prompt, completion;
  std::optional<std::size_t> first_data_piece;  // index of the piece that completed the first event
  bool stripped = false;
};

const Clock::time_point kT0{};

// Feeds `body` cut at `cuts` (increasing offsets); piece k is fed at kT0 + k ms.
Result run(std::string_view body, const std::vector<std::size_t>& cuts, bool strip,
           mo::UsageTap::Body kind = mo::UsageTap::Body::sse, mo::UsageTapLimits limits = {}) {
  mo::UsageTap tap(kind, strip, limits);
  Result r;
  std::size_t from = 0;
  for (std::size_t k = 0; k <= cuts.size(); ++k) {
    const std::size_t to = k < cuts.size() ? cuts[k] : body.size();
    const auto piece = body.substr(from, to - from);
    const auto now = kT0 + std::chrono::milliseconds(k);
    if (strip) tap.feed(piece, r.out, now);
    else tap.feed(piece, now);
    from = to;
  }
  if (strip) tap.finish(r.out);
  else tap.finish();
  r.prompt = tap.prompt_tokens();
  r.completion = tap.completion_tokens();
  if (auto t = tap.first_data_at()) r.first_data_piece = static_cast<std::size_t>((*t - kT0) / 1ms);
  r.stripped = tap.usage_stripped();
  return r;
}

}  // namespace

TEST(InjectIncludeUsage, Variants) {
  const std::vector<InjectCase> cases = {
      {R"({"model":"m","stream":true})", true, R"({"model":"m","stream":true,"stream_options":{"include_usage":true}})"},
      {"{\"stream\": true, \"messages\": [{\"role\":\"user\",\"content\":\"}\"}]}\n  ", true,
       "{\"stream\": true, \"messages\": [{\"role\":\"user\",\"content\":\"}\"}],\"stream_options\":{\"include_usage\":"
       "true}}\n  "},
      {R"({"stream":true,"stream_options":{}})", true, R"({"stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"stream":true,"stream_options":{ }})", true, R"({"stream":true,"stream_options":{"include_usage":true }})"},
      {R"({"stream_options":{"continuous_usage_stats":false},"stream":true})", true,
       R"({"stream_options":{"include_usage":true,"continuous_usage_stats":false},"stream":true})"},
      {R"({"stream":true,"stream_options":{"include_usage":false}})", true,
       R"({"stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"stream":true,"stream_options":{"include_usage": null ,"x":1}})", true,
       R"({"stream":true,"stream_options":{"include_usage": true ,"x":1}})"},
      {R"({"stream":true,"stream_options":null})", true, R"({"stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"stream":false,"stream":true})", true, R"({"stream":false,"stream":true,"stream_options":{"include_usage":true}})"},
      {R"({"stre\u0061m":true})", true, R"({"stre\u0061m":true,"stream_options":{"include_usage":true}})"},
      // Whitespace between key, colon and value (the quick scan must not miss these).
      {"{\"stream\" :\n\ttrue}", true, "{\"stream\" :\n\ttrue,\"stream_options\":{\"include_usage\":true}}"},
      {R"({"metadata":{"stream":false},"stream" : true})", true,
       R"({"metadata":{"stream":false},"stream" : true,"stream_options":{"include_usage":true}})"},
      // Left alone.
      {R"({"stream":true,"stream_options":{"include_usage":true}})", false, ""},
      {R"({"stream":true,"stream_options":{"include_usage":true,"include_usage":false}})", true,
       R"({"stream":true,"stream_options":{"include_usage":true,"include_usage":true}})"},
      {R"({"model":"m","stream":false})", false, ""},
      {R"({"metadata":{"stream":true},"stream":false})", false, ""},
      {R"({"messages":[{"content":"say \"stream\": true"}]})", false, ""},
      {R"({"model":"m"})", false, ""},
      {R"({"stream":"true"})", false, ""},
      {R"({"stream":true,"stream_options":"yes"})", false, ""},
      {R"({"stream":true,"stream_options":{"include_usage":"yes"}})", false, ""},
      {R"([{"stream":true}])", false, ""},
      {R"({"stream":true} {"x":1})", false, ""},
      {R"({"stream":true)", false, ""},
      {"", false, ""},
      {"not json", false, ""},
  };
  for (const auto& c : cases) {
    std::string body = c.in;
    EXPECT_EQ(mo::inject_include_usage(body), c.injected) << c.in;
    EXPECT_EQ(body, c.out.empty() ? c.in : c.out) << c.in;
    if (c.injected) {
      EXPECT_TRUE(asks_for_usage(body)) << body;
    }
  }
}

TEST(InjectIncludeUsage, LargeBodyOnlyTailMoves) {
  std::string body = R"({"model":"m","stream":true,"messages":[{"role":"user","content":")" +
                     std::string(1 << 20, 'x') + R"("}]})";
  const std::string expected = body.substr(0, body.size() - 1) + R"(,"stream_options":{"include_usage":true}})";
  EXPECT_TRUE(mo::inject_include_usage(body));
  EXPECT_EQ(body, expected);
}

TEST(UsageTapSse, EveryTwoWaySplit) {
  const std::string base = kComment + chunk("Hel") + chunk("lo") + kFinish + kUsage + kDone;
  for (std::string_view eol : {"\n", "\r\n", "\r"}) {
    const std::string body = with_line_ends(base, eol);
    const std::string usage = with_line_ends(kUsage, eol);
    std::string expected = body;
    expected.erase(expected.find(usage), usage.size());
    // The first data event is dispatched at the first byte of its closing blank line.
    const std::size_t first_end = with_line_ends(kComment + chunk("Hel"), eol).size();
    const std::size_t dispatch = first_end - eol.size();
    for (std::size_t cut = 0; cut <= body.size(); ++cut) {
      SCOPED_TRACE(testing::Message() << "eol " << eol.size() << (eol[0] == '\r' ? "CR" : "LF") << " cut " << cut);
      for (bool strip : {true, false}) {
        const auto r = run(body, {cut}, strip);
        EXPECT_EQ(r.prompt, 12u);
        EXPECT_EQ(r.completion, 3u);
        ASSERT_TRUE(r.first_data_piece);
        EXPECT_EQ(*r.first_data_piece, dispatch < cut ? 0u : 1u);
        if (strip) {
          EXPECT_EQ(r.out, expected);
          EXPECT_TRUE(r.stripped);
        } else {
          EXPECT_TRUE(r.out.empty());
          EXPECT_FALSE(r.stripped);
        }
      }
    }
  }
}

TEST(UsageTapSse, ByteByByteAndRandomSplits) {
  const std::string base = kComment + chunk("a") + chunk("b\\n") + kFinish + kUsage + kDone;
  std::mt19937 rng(42);
  for (std::string_view eol : {"\n", "\r\n", "\r"}) {
    const std::string body = with_line_ends(base, eol);
    const std::string usage = with_line_ends(kUsage, eol);
    std::string expected = body;
    expected.erase(expected.find(usage), usage.size());

    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < body.size(); ++i) every.push_back(i);
    auto r = run(body, every, true);
    EXPECT_EQ(r.out, expected);
    EXPECT_EQ(r.prompt, 12u);

    for (int round = 0; round < 500; ++round) {
      std::vector<std::size_t> cuts;
      std::uniform_int_distribution<std::size_t> pos(0, body.size());
      const int n = 1 + round % 8;
      for (int k = 0; k < n; ++k) cuts.push_back(pos(rng));
      std::sort(cuts.begin(), cuts.end());
      r = run(body, cuts, true);
      ASSERT_EQ(r.out, expected) << "round " << round;
      ASSERT_EQ(r.completion, 3u);
    }
  }
}

TEST(UsageTapSse, NoUsageEventPassesThroughUnchanged) {
  const std::string body = chunk("x") + kFinish + kDone;
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const auto r = run(body, {cut}, true);
    EXPECT_EQ(r.out, body);
    EXPECT_FALSE(r.prompt);
    EXPECT_FALSE(r.stripped);
  }
}

TEST(UsageTapSse, MultiLineDataAndOtherFields) {
  const std::string usage_event =
      "event: message\nid: 7\ndata: {\"choices\":[],\n: comment inside\ndata:\"usage\":{\"prompt_tokens\":5,"
      "\"completion_tokens\":6}}\nretry: 1000\n\n";
  const std::string body = "event: message\ndata: {\"choices\":[{\"delta\":{}}],\ndata: \"usage\":null}\n\n" +
                           usage_event + kDone;
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const auto r = run(body, {cut}, true);
    EXPECT_EQ(r.out, body.substr(0, body.find(usage_event)) + kDone);
    EXPECT_EQ(r.prompt, 5u);
    EXPECT_EQ(r.completion, 6u);
  }
}

TEST(UsageTapSse, ChunksWithUsageAndChoicesAreKept) {
  // vLLM's continuous_usage_stats: running usage on every chunk. Nothing is removed; the last wins.
  const std::string a = R"(data: {"choices":[{"delta":{"content":"x"}}],"usage":{"prompt_tokens":4,"completion_tokens":1}})"
                        "\n\n";
  const std::string b = R"(data: {"choices":[{"delta":{"content":"y"}}],"usage":{"prompt_tokens":4,"completion_tokens":2}})"
                        "\n\n";
  const auto r = run(a + b + kDone, {}, true);
  EXPECT_EQ(r.out, a + b + kDone);
  EXPECT_EQ(r.prompt, 4u);
  EXPECT_EQ(r.completion, 2u);
}

TEST(UsageTapSse, UnterminatedLastEventIsForwardedAndCounted) {
  std::string usage = kUsage;
  usage.resize(usage.size() - 2);  // the stream ends without the blank line
  const std::string body = chunk("x") + usage;
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const auto r = run(body, {cut}, true);
    EXPECT_EQ(r.out, body);
    EXPECT_EQ(r.prompt, 12u);
  }
}

TEST(UsageTapSse, OversizedEventIsForwardedUnparsed) {
  mo::UsageTapLimits limits;
  limits.max_event_bytes = 64;
  const std::string big = chunk(std::string(500, 'z'));
  const std::string body = chunk("x") + big + kUsage + kDone;
  // Whole events in one piece are never held, so the limit does not apply to them.
  for (std::size_t cut : {std::size_t{0}, body.size()}) {
    const auto r = run(body, {cut}, true, mo::UsageTap::Body::sse, limits);
    EXPECT_EQ(r.out, chunk("x") + big + kDone) << cut;
    EXPECT_EQ(r.prompt, 12u);
  }
  // The big event split in the middle: held past 64 bytes, forwarded as it came.
  const std::size_t mid = chunk("x").size() + big.size() / 2;
  auto r = run(body, {mid}, true, mo::UsageTap::Body::sse, limits);
  EXPECT_EQ(r.out, chunk("x") + big + kDone);
  EXPECT_EQ(r.prompt, 12u);
  std::vector<std::size_t> small_pieces;
  for (std::size_t i = 10; i < body.size(); i += 10) small_pieces.push_back(i);
  r = run(body, small_pieces, true, mo::UsageTap::Body::sse, limits);
  EXPECT_EQ(r.out, body);  // every event held past 64 bytes is forwarded as it came, usage too
}

TEST(UsageTapSse, ResetReusesTheTap) {
  mo::UsageTap tap(mo::UsageTap::Body::sse, true);
  std::string out;
  tap.feed(chunk("x") + kUsage.substr(0, 20), out, kT0);
  tap.reset(mo::UsageTap::Body::sse, true);
  out.clear();
  tap.feed(kUsage + kDone, out, kT0);
  tap.finish(out);
  EXPECT_EQ(out, kDone);
  EXPECT_EQ(tap.prompt_tokens(), 12u);
}

TEST(UsageTapJson, UsageAtEverySplit) {
  const std::string body =
      R"({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":"the word \"usage\": {\"prompt_tokens\": 999}"},"finish_reason":"stop"}],)"
      R"("usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}})";
  for (std::size_t cut = 0; cut <= body.size(); ++cut) {
    const auto r = run(body, {cut}, false, mo::UsageTap::Body::json);
    EXPECT_EQ(r.prompt, 9u);
    EXPECT_EQ(r.completion, 4u);
    EXPECT_FALSE(r.first_data_piece);
    EXPECT_EQ(run(body, {cut}, true, mo::UsageTap::Body::json).out, body);
  }
}

TEST(UsageTapJson, EmbeddingsAndMissingUsage) {
  auto r = run(R"({"object":"list","data":[],"usage":{"prompt_tokens":7,"total_tokens":7}})", {}, false,
               mo::UsageTap::Body::json);
  EXPECT_EQ(r.prompt, 7u);
  EXPECT_FALSE(r.completion);
  r = run(R"({"object":"list","data":[]})", {}, false, mo::UsageTap::Body::json);
  EXPECT_FALSE(r.prompt);
  r = run(R"({"error":{"message":"no"}})", {10}, false, mo::UsageTap::Body::json);
  EXPECT_FALSE(r.prompt);
  r = run("<html>bad gateway</html>", {}, false, mo::UsageTap::Body::json);
  EXPECT_FALSE(r.prompt);
}

TEST(UsageTapJson, LargeBodyKeepsHeadAndTail) {
  mo::UsageTapLimits limits;
  limits.max_json_bytes = 256;
  const std::string filler = std::string(R"({"data":[)") + std::string(5000, '1') + "],";
  const std::string at_end =
      filler + R"("s":"\"usage\":{\"prompt_tokens\":1}","usage" : {"prompt_tokens":11,"completion_tokens":22}})";
  std::vector<std::size_t> pieces;
  for (std::size_t i = 100; i < at_end.size(); i += 100) pieces.push_back(i);
  auto r = run(at_end, pieces, false, mo::UsageTap::Body::json, limits);
  EXPECT_EQ(r.prompt, 11u);
  EXPECT_EQ(r.completion, 22u);

  const std::string at_start = R"({"usage":{"prompt_tokens":3,"completion_tokens":4},"data":[)" +
                               std::string(5000, '2') + "]}";
  r = run(at_start, {100, 200, 300, 4000}, false, mo::UsageTap::Body::json, limits);
  EXPECT_EQ(r.prompt, 3u);
  EXPECT_EQ(r.completion, 4u);
}
