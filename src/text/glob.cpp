#include "text/glob.h"

#include <fnmatch.h>

namespace modelgate::text {

std::string glob_problem(std::string_view p) {
  if (p.empty()) return "the pattern is empty";
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\0') return "the pattern contains a NUL byte";
    if (p[i] == '\\') {
      if (++i == p.size()) return "the pattern ends with a lone \\";
      continue;
    }
    if (p[i] != '[') continue;
    // A bracket expression: "[!" or "[^" may open it, and a ']' right after the opening is a member.
    std::size_t j = i + 1;
    if (j < p.size() && (p[j] == '!' || p[j] == '^')) ++j;
    if (j < p.size() && p[j] == ']') ++j;
    while (j < p.size() && p[j] != ']') ++j;
    if (j == p.size()) return "a '[' at position " + std::to_string(i + 1) + " is never closed by ']'";
    i = j;
  }
  return {};
}

bool glob_match(const std::string& pattern, const std::string& name) {
  return fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

}  // namespace modelgate::text
