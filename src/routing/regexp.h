// Regular expressions as Traefik's (Go's regexp) are written, compiled by libstdc++ safely: the
// linear-time executor, numbers bounded, an inline "(?i)" prefix for case-insensitive matching.
// Shared by the rule matchers (rule_matchers.cpp) and the path-rewriting middleware (replacePathRegex).
#pragma once

#include <cstddef>
#include <optional>
#include <regex>
#include <string>
#include <string_view>

namespace modelgate::routing {

// libstdc++'s regexp compiler recurses once per term (and per group): about 100 bytes of stack
// per character, so a pattern of 100 000 characters overflows an 8 MiB stack (found by fuzz_rule).
// Route regexps are short; this bound leaves a margin of about 20, and still of 5 with
// AddressSanitizer's larger frames.
inline constexpr std::size_t kMaxRegexChars = 4096;

// The compiled pattern, or nullopt with `error` saying why. `captures`: sub-matches are kept
// (for a replacement with $1); otherwise none are (faster).
std::optional<std::regex> compile_regex(std::string_view pattern, std::string& error, bool captures = false);

}  // namespace modelgate::routing
