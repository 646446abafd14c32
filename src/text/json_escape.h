// JSON string text (RFC 8259 §7), for everything that writes JSON by hand: the gateway's error
// answers, the admin API, the access log, the simulator. Bytes that are not valid UTF-8 become
// U+FFFD, so the output stays valid JSON whatever a client put in a model name or a path.
#pragma once

#include <string>
#include <string_view>

#include "text/utf8.h"

namespace modelgate::text {

// The contents of a JSON string, without the quotes.
inline void append_json_escaped(std::string& out, std::string_view v) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  for (std::size_t i = 0; i < v.size();) {
    const unsigned char c = p[i];
    if (c >= 0x80) {
      if (const auto len = utf8_length(p + i, v.size() - i)) {
        out.append(v.data() + i, len);
        i += len;
      } else {
        out += "\\ufffd";
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          const char esc[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
          out.append(esc, sizeof esc);
        } else {
          out += static_cast<char>(c);
        }
    }
    ++i;
  }
}

// A quoted JSON string.
inline void append_json_string(std::string& out, std::string_view v) {
  out += '"';
  append_json_escaped(out, v);
  out += '"';
}

inline std::string json_string(std::string_view v) {
  std::string out;
  append_json_string(out, v);
  return out;
}

}  // namespace modelgate::text
