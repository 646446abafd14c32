// Token counting on the way through: the usage an OpenAI-compatible server reports, read from the
// response body as it is relayed.
//
// A non-streamed answer carries "usage" in its JSON object. A stream carries it only when the
// request said "stream_options": {"include_usage": true}: then one extra event, just before
// "data: [DONE]", has "choices": [] and the usage. With `usage: inject` the gateway adds that option
// to requests that did not ask for it (inject_include_usage) and removes the extra event from the
// response (UsageTap in strip mode), so the client sees the stream it asked for, give or take the
// `"usage":null` field OpenAI-style servers then add to every other chunk.
//
// The Responses API (/v1/responses) always ends its stream with a response.completed event whose
// "response" holds "usage" (input_tokens, output_tokens): nothing is injected or stripped, and
// time to first token is the first *.delta event, not response.created (sent before generation).
// Embeddings report prompt_tokens; rerank answers total_tokens alone (vLLM, Jina) or
// meta.tokens.input_tokens (Xinference): both count as prompt tokens.
//
// Cost, per response:
// - JSON body: each piece is copied into a buffer (up to 1 MiB), parsed once by simdjson at
//   finish(). A larger body keeps only its first and last 64 KiB and the usage object is found by
//   a key search in them (the "usage" of OpenAI answers is the last key, so the tail has it).
// - SSE, observe mode: one pass over each byte to find event boundaries (a byte compare each);
//   nothing is copied except an event split across pieces. An event whose data contains "usage"
//   is copied (a few hundred bytes) into a padded buffer and parsed by simdjson — with usage
//   injected that is every event, since each one carries "usage":null.
// - SSE, strip mode: the same, plus every forwarded byte is copied once into the caller's output
//   string, and an incomplete event is held back until its blank line arrives (a client cannot act
//   on half an event anyway, so no latency is added to complete events).
// Buffers are kept across reset() (up to 64 KiB), so a session reusing its tap does not allocate
// per request in the steady state.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modelgate::observability {

// If the JSON object `json_body` has "stream": true and no "stream_options": {"include_usage": true},
// adds it — into the existing stream_options object, or as a new last member — and returns true:
// the client did not ask for usage, so the usage event must be stripped from the answer. Returns
// false and leaves the body untouched otherwise (not a JSON object, not a stream, usage already
// asked for, or a stream_options / include_usage of an unexpected type, which the server will
// reject itself). Duplicate keys: the last one counts, as in most JSON parsers.
// Copying: an insertion before the final '}' moves one byte; one inside stream_options moves the
// rest of the body once. May grow the capacity by simdjson's padding (64 bytes).
bool inject_include_usage(std::string& json_body);

struct UsageTapLimits {
  std::size_t max_json_bytes = 1 << 20;   // a JSON body up to this is parsed whole
  std::size_t max_event_bytes = 1 << 20;  // a longer SSE event is forwarded unparsed
};

class UsageTap {
 public:
  using Clock = std::chrono::steady_clock;
  using Limits = UsageTapLimits;
  enum class Body { json, sse };

  UsageTap() = default;
  explicit UsageTap(Body body, bool strip_usage_chunk = false, Limits limits = {}) {
    reset(body, strip_usage_chunk, limits);
  }

  // Starts a new response body, keeping the buffers' capacity (up to 64 KiB).
  void reset(Body body, bool strip_usage_chunk = false, Limits limits = {});

  // Observe mode (strip_usage_chunk false): the caller forwards `piece` unchanged.
  void feed(std::string_view piece, Clock::time_point now = Clock::now()) { process(piece, nullptr, now); }

  // Strip mode: appends to `out` the bytes to forward in place of `piece` (possibly none: an event
  // is held back until it is complete; possibly more: a held event completed by `piece`). Without
  // strip_usage_chunk, appends `piece` unchanged.
  void feed(std::string_view piece, std::string& out, Clock::time_point now = Clock::now()) {
    process(piece, &out, now);
  }

  // The body is complete: a JSON body is parsed; in strip mode an incomplete last event is
  // appended to `out` as it came. Call once, after the last feed.
  void finish();
  void finish(std::string& out);

  std::optional<std::uint64_t> prompt_tokens() const { return prompt_tokens_; }
  std::optional<std::uint64_t> completion_tokens() const { return completion_tokens_; }
  // usage.prompt_tokens_details.cached_tokens: prompt tokens the server found in its prefix cache.
  std::optional<std::uint64_t> cached_tokens() const { return cached_tokens_; }
  // When the first "data:" event (other than [DONE]; for the Responses API the first *.delta
  // event) was complete: time to first token.
  std::optional<Clock::time_point> first_data_at() const { return first_data_at_; }
  // The usage event was removed from the stream.
  bool usage_stripped() const { return stripped_; }

 private:
  enum class Scan : std::uint8_t { bol, line, bol_cr, after_event_cr };

  void process(std::string_view piece, std::string* out, Clock::time_point now);
  void process_sse(std::string_view piece, std::string* out, Clock::time_point now);
  void process_json(std::string_view piece);
  // A complete event: records data time and usage; true when it is the usage-only event.
  bool on_event(std::string_view event, Clock::time_point now);
  bool read_usage(bool& choices_empty);  // parses scratch_
  void parse_json_body();

  Body body_ = Body::json;
  bool strip_ = false;
  Limits limits_;

  // SSE
  Scan scan_ = Scan::bol;
  bool overflow_ = false;       // the current event is too long: forwarded, not parsed
  bool last_stripped_ = false;  // the previous event was removed (so is the \n of its \r\n)
  bool stripped_ = false;
  std::string partial_;         // the current event's bytes from earlier pieces
  std::string scratch_;         // padded copy of an event's data for the parser

  // JSON
  std::string json_;         // whole body, or its head once over max_json_bytes
  std::string tail_;         // the last bytes once over max_json_bytes
  bool json_over_ = false;
  bool finished_ = false;

  std::optional<std::uint64_t> prompt_tokens_;
  std::optional<std::uint64_t> completion_tokens_;
  std::optional<std::uint64_t> cached_tokens_;
  std::optional<Clock::time_point> first_data_at_;
};

}  // namespace modelgate::observability
