#include "text/prometheus.h"

#include "text/utf8.h"

namespace modelgate::text {

void append_label_value(std::string& out, std::string_view v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  const std::size_t n = v.size();
  std::size_t plain = 0;  // start of the run not yet copied
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    if (c < 0x80 && c != '\\' && c != '"' && c != '\n') {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      if (auto len = text::utf8_length(p + i, n - i)) {
        i += len;
        continue;
      }
    }
    out.append(v.data() + plain, i - plain);
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += "\xef\xbf\xbd"; break;  // U+FFFD for a byte that is not UTF-8
    }
    plain = ++i;
  }
  out.append(v.data() + plain, n - plain);
}

}  // namespace modelgate::text
