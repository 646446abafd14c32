// The table of matchers the rule language knows, with what the parser checks against it: the
// name as written (and a suggestion when it is unknown), the number of arguments, and each
// argument's form. Checking everything here, once, is what lets matching never fail.
// Internal to routing/; other layers include rule.h.
#pragma once

#include <cstddef>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "routing/rule.h"
#include "routing/rule_tree.h"

namespace modelgate::routing::rule_detail {

inline constexpr std::size_t kAny = std::numeric_limits<std::size_t>::max();

struct MatcherSpec {
  std::string_view name;
  Kind kind;
  std::size_t min_args;
  std::size_t max_args;    // kAny: no limit
  std::string_view usage;  // the parameters, for error messages
  RuleSyntax syntax = RuleSyntax::http;  // ClientIP is in both (listed twice)
};

// One argument of a matcher as the parser read it: where it starts and its decoded contents.
struct RuleArg {
  std::size_t offset = 0;
  std::string value;
};

// The matcher `name` names in `syntax`, written as Traefik accepts it; nullptr if none.
const MatcherSpec* find_matcher(std::string_view name, RuleSyntax syntax);
// Why `name` is no matcher of `syntax`: a near name, the other syntax's matcher, or the list.
std::string unknown_matcher_message(std::string_view name, RuleSyntax syntax);
// "Header needs 2 arguments (name, value), got 1".
std::string arity_message(const MatcherSpec& spec, std::size_t got);
// Validates and normalises `args` (as many as `spec` allows) into `m`; the error points at the
// argument that is wrong. `args` are moved from.
std::optional<RuleError> build_matcher(const MatcherSpec& spec, std::vector<RuleArg>& args, Matcher& m);

}  // namespace modelgate::routing::rule_detail
