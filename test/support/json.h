// Reading JSON answers in tests (admin API, access log lines).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "support/wait.h"

namespace modelgate::test {

// A parsed JSON document (one parser per document keeps its elements valid).
struct Json {
  explicit Json(const std::string& text) {
    auto r = parser.parse(text);
    ok = !r.error();
    if (ok) root = r.value();
  }
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  bool ok = false;
};

// The string field `key`, "" when absent or not a string.
inline std::string str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  if (e[key].get(v)) return {};
  return std::string(v);
}

// The integer field `key`, -1 when absent or not an integer (null).
inline std::int64_t num(simdjson::dom::element e, const char* key) {
  std::int64_t v;
  if (e[key].get(v)) return -1;
  return v;
}

// A non-streamed chat completion request for `model`, as the sims answer it.
inline std::string chat_json(std::string_view model, int max_tokens = 4) {
  return "{\"model\":\"" + std::string(model) + "\",\"max_tokens\":" + std::to_string(max_tokens) +
         ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a story\"}]}";
}

}  // namespace modelgate::test
