#include "routing/regexp.h"

#include <fmt/format.h>

#include <cstdint>

namespace modelgate::routing {

namespace {

// libstdc++'s default executor backtracks: exponential time on patterns like (a*)*b, and one
// stack frame per input character, which overflows on a 100 KB path. Its __polynomial option
// selects the Thompson-NFA executor instead (linear in the input, no deep recursion), at the price
// of back-references, which Go's regexp, and so Traefik, does not have either. A plausible
// `^([a-z0-9]+-?)*\.example\.com$` takes seconds on a 24-character hostile Host when
// backtracking, microseconds this way. Captures are kept only for a caller that reads them.
#if defined(__GLIBCXX__)
constexpr auto kRegexSyntax = std::regex::ECMAScript | std::regex_constants::__polynomial;
#else
constexpr auto kRegexSyntax = std::regex::ECMAScript;
#endif

// libstdc++'s regex compiler reads the number of a back-reference or of a repeat count into a
// long with no bound: past 19 digits that is undefined behaviour (found by fuzz_rule). The numbers
// are checked first, with Go's rules: no back-references, repeat counts of at most 1000.
constexpr std::uint64_t kMaxRepeat = 1000;

bool numbers_fit(std::string_view p, std::string& error) {
  const auto digit = [&](std::size_t i) { return i < p.size() && p[i] >= '0' && p[i] <= '9'; };
  for (std::size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '\\') {
      if (digit(i + 1) && p[i + 1] != '0') {
        error = "back-references are not supported, as in Go's regexp";
        return false;
      }
      ++i;  // the escaped character
      continue;
    }
    if (p[i] != '{' || !digit(i + 1)) continue;
    for (std::size_t j = i + 1; j < p.size() && (digit(j) || p[j] == ','); ++j) {
      if (!digit(j)) continue;
      std::size_t end = j;
      while (digit(end)) ++end;
      const std::string_view number = p.substr(j, end - j);
      if (number.size() > 4 || std::stoull(std::string(number)) > kMaxRepeat) {
        error = fmt::format("repeat count {} is over {}, the most Go's regexp allows", number, kMaxRepeat);
        return false;
      }
      j = end - 1;
    }
  }
  return true;
}

}  // namespace

std::optional<std::regex> compile_regex(std::string_view pattern, std::string& error, bool captures) {
  if (!numbers_fit(pattern, error)) return std::nullopt;
  auto flags = kRegexSyntax;
  if (!captures) flags |= std::regex::nosubs;
  if (pattern.starts_with("(?i)")) {
    flags |= std::regex::icase;
    pattern.remove_prefix(4);
  }
  try {
    return std::regex(pattern.begin(), pattern.end(), flags);
  } catch (const std::regex_error& e) {
    if (e.code() == std::regex_constants::error_complexity) {
      error = "back-references are not supported, as in Go's regexp";
    } else {
      error = e.what();
      if (error.ends_with('.')) error.pop_back();
    }
    return std::nullopt;
  }
}

}  // namespace modelgate::routing
