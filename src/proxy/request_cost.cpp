#include "proxy/request_cost.h"

#include <simdjson.h>

#include <algorithm>
#include <string_view>

#include "text/json_parser.h"

namespace modelgate::proxy {

namespace {

constexpr std::uint64_t kBytesPerToken = 4;
// A completion asked for counts up to this: the cost is an estimate, and one absurd max_tokens
// must not push its tenant's tags out of reach for the rest of the day.
constexpr std::uint64_t kMaxCompletion = 1'000'000;

// The top-level max_tokens (or max_completion_tokens) of a JSON body; 0 when it has none.
std::uint64_t completion_asked(std::string& body) {
  auto& parser = text::thread_json_parser();
  body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  simdjson::ondemand::document doc;
  if (parser.iterate(body.data(), body.size(), body.capacity()).get(doc)) return 0;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return 0;
  for (auto f : obj) {
    simdjson::ondemand::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return 0;
    if (key != "max_tokens" && key != "max_completion_tokens") continue;
    std::uint64_t n = 0;
    if (field.value().get_uint64().get(n)) return 0;
    return std::min(n, kMaxCompletion);
  }
  return 0;
}

}  // namespace

std::uint64_t estimate_request_tokens(std::string& body) {
  if (body.empty()) return 1;
  return std::max<std::uint64_t>(1, body.size() / kBytesPerToken + completion_asked(body));
}

std::uint64_t estimate_streamed_tokens(std::uint64_t content_length) {
  return std::max<std::uint64_t>(1, content_length / kBytesPerToken);
}

}  // namespace modelgate::proxy
