// ASCII character helpers of the rule language, shared by its lexer, matcher table and evaluator.
// ASCII only, and no <cctype>: HTTP names are ASCII, and the locale must not change what a rule
// matches. Internal to routing/ (the rule_*.cpp files); other layers include rule.h.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

namespace modelgate::routing::rule_detail {

inline char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
inline char to_upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_name_char(char c) { return is_alpha(c) || is_digit(c) || c == '_'; }

inline bool is_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return to_lower(x) == to_lower(y); });
}

// `lower` is already lowercase (normalised at parse time): only `s` needs folding.
inline bool equals_folded(std::string_view s, std::string_view lower) {
  return s.size() == lower.size() &&
         std::equal(s.begin(), s.end(), lower.begin(), [](char x, char y) { return to_lower(x) == y; });
}

inline std::string lowercase(std::string s) {
  for (char& c : s) c = to_lower(c);
  return s;
}

inline std::string uppercase(std::string s) {
  for (char& c : s) c = to_upper(c);
  return s;
}

}  // namespace modelgate::routing::rule_detail
