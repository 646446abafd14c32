// One field of a message head, as the parser hands it out: views into the caller's buffer, the
// value trimmed of surrounding whitespace. Routing rules and hash keys match on these directly,
// so a parsed request is matched without copying its fields.
#pragma once

#include <cstddef>
#include <string_view>

namespace modelgate::http1 {

struct Field {
  std::string_view name;
  std::string_view value;
};

// The most fields a request head may have: the parser keeps them in a fixed array.
inline constexpr std::size_t kMaxFields = 100;

}  // namespace modelgate::http1
