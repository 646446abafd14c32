// Percent-decoding of a URL path segment (RFC 3986 §2.1), for model names in paths such as
// /v1/models/Qwen%2FQwen2.5-7B: "%2F" is "/", and a '%' not followed by two hex digits stays as
// it is. '+' is not a space in a path (that is form encoding).
#pragma once

#include <charconv>
#include <string>
#include <string_view>

namespace modelgate::text {

inline std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    int v = 0;
    if (s[i] == '%' && i + 2 < s.size() &&
        std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16).ptr == s.data() + i + 3) {
      out += static_cast<char>(v);
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace modelgate::text
