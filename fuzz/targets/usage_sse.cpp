// Fuzz target: the token-usage scanner that reads every relayed response body (SSE streams and
// JSON answers), and inject_include_usage, which edits streamed request bodies.
//
// Input: one byte of flags, then the body. Flags: bit 0 strip mode, bit 1 JSON body instead of
// SSE, bit 2 tiny limits (to reach the over-limit paths), bits 3..7 the piece size (1..32).
// Beyond crashes: fed whole or in pieces, a body gives the same tokens and the same output (within
// the limits, where nothing depends on where a piece ends); a stream from which no event was
// stripped is forwarded byte for byte; a valid JSON request stays valid JSON after injection.
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "check.h"
#include "observability/usage_tap.h"

namespace {

using modelgate::observability::inject_include_usage;
using modelgate::observability::UsageTap;

struct Outcome {
  std::string out;
  std::optional<std::uint64_t> prompt, completion;
  bool first_data = false;
  bool stripped = false;
};

Outcome run(UsageTap& tap, std::string_view body, std::size_t piece, UsageTap::Body kind, bool strip,
            UsageTap::Limits limits) {
  tap.reset(kind, strip, limits);  // one tap reused, as a session reuses its own
  const UsageTap::Clock::time_point now{};
  Outcome r;
  for (std::size_t at = 0; at < body.size(); at += piece) tap.feed(body.substr(at, piece), r.out, now);
  tap.finish(r.out);
  r.prompt = tap.prompt_tokens();
  r.completion = tap.completion_tokens();
  r.first_data = tap.first_data_at().has_value();
  r.stripped = tap.usage_stripped();
  return r;
}

bool valid_json(const std::string& text) {
  static simdjson::dom::parser parser;
  simdjson::dom::element doc;
  return !parser.parse(text).get(doc);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool strip = data[0] & 1;
  const auto kind = data[0] & 2 ? UsageTap::Body::json : UsageTap::Body::sse;
  const bool tiny = data[0] & 4;
  const std::size_t piece = 1 + (data[0] >> 3);
  const std::string_view body = modelgate::fuzz::as_view(data + 1, size - 1);
  const UsageTap::Limits limits = tiny ? UsageTap::Limits{64, 48} : UsageTap::Limits{};

  static UsageTap tap;
  const Outcome whole = run(tap, body, body.size() + 1, kind, strip, limits);
  const Outcome pieces = run(tap, body, piece, kind, strip, limits);
  if (!whole.stripped) FUZZ_CHECK(whole.out == body);
  if (!pieces.stripped) FUZZ_CHECK(pieces.out == body);
  if (!strip) FUZZ_CHECK(!whole.stripped && !pieces.stripped);
  if (!tiny) {
    FUZZ_CHECK(whole.out == pieces.out);
    FUZZ_CHECK(whole.prompt == pieces.prompt && whole.completion == pieces.completion);
    FUZZ_CHECK(whole.first_data == pieces.first_data && whole.stripped == pieces.stripped);
  }

  if (kind == UsageTap::Body::json) {
    std::string request(body);
    const bool was_valid = valid_json(request);
    if (inject_include_usage(request) && was_valid) FUZZ_CHECK(valid_json(request));
  }
  return 0;
}
