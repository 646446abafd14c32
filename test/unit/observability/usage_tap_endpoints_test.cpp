// The usage tap on the model endpoints beyond chat: the Responses API (its typed stream events
// and its input/output token names), rerank's total-only usage, Xinference's meta.tokens, and
// no include_usage injection into a Responses API request.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "observability/usage_tap.h"

namespace mo = modelgate::observability;
using namespace std::chrono_literals;
using Clock = mo::UsageTap::Clock;

namespace {

const Clock::time_point kT0{};

std::string event(std::string_view type, std::string_view json_rest, bool with_event_field = true) {
  std::string out;
  if (with_event_field) out += "event: " + std::string(type) + "\n";
  out += R"(data: {"type":")" + std::string(type) + "\"," + std::string(json_rest) + "}\n\n";
  return out;
}

// A Responses API stream as vLLM and OpenAI send it (the usage of response.created is null).
std::vector<std::string> responses_stream(bool with_event_field) {
  const std::string in_progress =
      R"("response":{"id":"resp_1","object":"response","status":"in_progress","output":[],"usage":null})";
  return {
      event("response.created", in_progress + R"(,"sequence_number":0)", with_event_field),
      event("response.in_progress", in_progress + R"(,"sequence_number":1)", with_event_field),
      event(
          "response.output_item.added",
          R"("output_index":0,"item":{"type":"message","role":"assistant","content":[]},"sequence_number":2)",
          with_event_field),
      event("response.output_text.delta", R"("item_id":"m","delta":"Hel","sequence_number":3)",
            with_event_field),
      event("response.output_text.delta", R"("item_id":"m","delta":"lo","sequence_number":4)",
            with_event_field),
      event("response.output_text.done", R"("item_id":"m","text":"Hello","sequence_number":5)",
            with_event_field),
      event(
          "response.completed",
          R"("response":{"id":"resp_1","object":"response","status":"completed","output":[{"type":"message",)"
          R"("content":[{"type":"output_text","text":"the \"usage\": {\"input_tokens\": 99}"}]}],)"
          R"("usage":{"input_tokens":11,"input_tokens_details":{"cached_tokens":4},"output_tokens":2,)"
          R"("output_tokens_details":{"reasoning_tokens":0},"total_tokens":13}},"sequence_number":6)",
          with_event_field),
  };
}

}  // namespace

TEST(UsageTapResponsesApi, StreamFirstTokenIsTheFirstDeltaAndUsageIsInResponseCompleted) {
  for (bool with_event_field : {true, false}) {
    SCOPED_TRACE(with_event_field ? "event field" : "type in data only");
    for (bool strip : {false, true}) {
      mo::UsageTap tap(mo::UsageTap::Body::sse, strip);
      std::string in, out;
      const auto events = responses_stream(with_event_field);
      for (std::size_t k = 0; k < events.size(); ++k) {
        in += events[k];
        tap.feed(events[k], out, kT0 + std::chrono::milliseconds(k));
      }
      tap.finish(out);
      EXPECT_EQ(out, in) << "nothing is removed from a Responses API stream";
      EXPECT_FALSE(tap.usage_stripped());
      ASSERT_TRUE(tap.first_data_at());
      EXPECT_EQ(*tap.first_data_at() - kT0, 3ms) << "response.created is not a token";
      EXPECT_EQ(tap.prompt_tokens(), 11u);
      EXPECT_EQ(tap.completion_tokens(), 2u);
      EXPECT_EQ(tap.cached_tokens(), 4u);
    }
  }
}

TEST(UsageTapResponsesApi, NonStreamedResponseObject) {
  const std::string body =
      R"({"id":"resp_1","object":"response","status":"completed","output":[{"type":"message","content":)"
      R"([{"type":"output_text","text":"Hello"}]}],"usage":{"input_tokens":5,"output_tokens":7,"total_tokens":12}})";
  mo::UsageTap tap(mo::UsageTap::Body::json);
  tap.feed(body.substr(0, 40), kT0);
  tap.feed(body.substr(40), kT0);
  tap.finish();
  EXPECT_EQ(tap.prompt_tokens(), 5u);
  EXPECT_EQ(tap.completion_tokens(), 7u);
}

TEST(UsageTapRerank, TotalTokensAloneArePromptTokens) {
  mo::UsageTap tap(mo::UsageTap::Body::json);
  tap.feed(R"({"id":"rerank-1","model":"bge","usage":{"total_tokens":42},"results":[{"index":0,)"
           R"("document":{"text":"a"},"relevance_score":0.9}]})");
  tap.finish();
  EXPECT_EQ(tap.prompt_tokens(), 42u);
  EXPECT_FALSE(tap.completion_tokens());

  // Xinference: Cohere's shape with the token counts in meta.tokens.
  tap.reset(mo::UsageTap::Body::json);
  tap.feed(R"({"id":"x","results":[{"index":0,"relevance_score":0.5,"document":null}],)"
           R"("meta":{"api_version":null,"billed_units":null,"tokens":{"input_tokens":17,"output_tokens":0},)"
           R"("warnings":null}})");
  tap.finish();
  EXPECT_EQ(tap.prompt_tokens(), 17u);

  // A chat answer's total_tokens does not replace its prompt_tokens.
  tap.reset(mo::UsageTap::Body::json);
  tap.feed(R"({"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})");
  tap.finish();
  EXPECT_EQ(tap.prompt_tokens(), 3u);
  EXPECT_EQ(tap.completion_tokens(), 4u);
}

TEST(InjectIncludeUsage, NotIntoAResponsesApiRequest) {
  for (std::string body :
       {std::string(R"({"model":"m","input":"Hello","stream":true})"),
        std::string(R"({"model":"m","stream":true,"input":[{"role":"user","content":"Hi"}]})")}) {
    const std::string before = body;
    EXPECT_FALSE(mo::inject_include_usage(body)) << before;
    EXPECT_EQ(body, before);
  }
}
