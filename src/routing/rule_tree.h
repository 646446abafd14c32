// The compiled form of a rule: the kinds of matcher, a matcher with its arguments normalised at
// parse time (so that matching only compares), and the syntax tree that combines matchers with
// `&&`, `||` and `!`. Built by the parser (rule_parser.cpp), walked by the evaluator
// (rule_eval.cpp) and by the questions the configuration asks of a rule (rule.cpp).
// Internal to routing/; other layers include rule.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "routing/ip_net.h"
#include "routing/rule.h"

namespace modelgate::routing {
namespace rule_detail {

enum class Kind : std::uint8_t {
  host,
  host_regexp,
  path,
  path_prefix,
  path_regexp,
  method,
  header,
  header_regexp,
  query,
  client_ip,
  model,
  model_regexp,
  host_sni,
  host_sni_regexp,
};

struct Matcher {
  Kind kind = Kind::host;
  std::vector<std::string> values;  // normalised arguments; Header: {name, value}
  std::optional<std::regex> regex;  // the *Regexp matchers
  std::vector<IpNet> nets;          // ClientIP
};

inline bool contains(const std::vector<std::string>& values, std::string_view s) {
  return std::find(values.begin(), values.end(), s) != values.end();
}

inline bool search(const std::regex& re, std::string_view s) {
  return std::regex_search(s.begin(), s.end(), re);
}

// The host as Traefik matches it: an IPv6 literal without its brackets.
inline std::string_view bare_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

}  // namespace rule_detail

struct Rule::Node {
  enum class Op : std::uint8_t { all, any, negate, match };
  Op op = Op::match;
  std::vector<std::unique_ptr<Node>> children;  // all/any: two or more; negate: one
  rule_detail::Matcher matcher;                 // op == match
};

}  // namespace modelgate::routing
