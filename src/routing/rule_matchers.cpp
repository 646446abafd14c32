// The matcher table and the checks made against it when a rule is parsed.
//
// Traefik behaviour kept (pkg/muxer/http/matcher.go, pkg/rules/parser.go): a matcher name may be
// written as documented, all-lowercase, all-uppercase or Capitalised (host, HOST, Pathprefix);
// Method arguments are uppercased; Host arguments are lowercased, lose one trailing dot and an
// IPv6 literal's brackets, and must be ASCII; Path and PathPrefix must start with "/".
// Additions: several arguments to an exact matcher mean "any of"; a regexp may start with Go's
// "(?i)" (regexp.h); Model and ModelRegexp test the JSON body's "model" field.
//
// An unknown name gets the nearest known one (Levenshtein distance, ignoring case) when it is
// close, or says that it belongs to the other kind of router, or lists the names there are.
#include "routing/rule_matchers.h"

#include "routing/ip_net.h"
#include "routing/regexp.h"
#include "routing/rule_ascii.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace modelgate::routing::rule_detail {
namespace {

constexpr MatcherSpec kMatchers[] = {
    {"Host", Kind::host, 1, kAny, "domain, ..."},
    {"HostRegexp", Kind::host_regexp, 1, 1, "regexp"},
    {"Path", Kind::path, 1, kAny, "path, ..."},
    {"PathPrefix", Kind::path_prefix, 1, kAny, "prefix, ..."},
    {"PathRegexp", Kind::path_regexp, 1, 1, "regexp"},
    {"Method", Kind::method, 1, kAny, "method, ..."},
    {"Header", Kind::header, 2, 2, "name, value"},
    {"HeaderRegexp", Kind::header_regexp, 2, 2, "name, regexp"},
    {"Query", Kind::query, 1, 2, "key[, value]"},
    {"ClientIP", Kind::client_ip, 1, kAny, "ip-or-cidr, ..."},
    {"Model", Kind::model, 1, kAny, "name, ..."},
    {"ModelRegexp", Kind::model_regexp, 1, 1, "regexp"},
    {"HostSNI", Kind::host_sni, 1, kAny, "domain, ... or `*`", RuleSyntax::tcp},
    {"HostSNIRegexp", Kind::host_sni_regexp, 1, 1, "regexp", RuleSyntax::tcp},
    {"ClientIP", Kind::client_ip, 1, kAny, "ip-or-cidr, ...", RuleSyntax::tcp},
};

// Traefik registers each name as written, lowercased, uppercased and Capitalised.
bool spelling_accepted(std::string_view written, std::string_view name) {
  if (!iequals(written, name)) return false;
  if (written == name) return true;
  const auto all = [&](auto pred) { return std::all_of(written.begin(), written.end(), pred); };
  const bool lower = all([](char c) { return c == to_lower(c); });
  const bool upper = all([](char c) { return c == to_upper(c); });
  const bool capitalised =
      written[0] == to_upper(written[0]) &&
      std::all_of(written.begin() + 1, written.end(), [](char c) { return c == to_lower(c); });
  return lower || upper || capitalised;
}

// Levenshtein distance, ignoring case.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t substitute = diagonal + (to_lower(a[i - 1]) == to_lower(b[j - 1]) ? 0 : 1);
      diagonal = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitute});
    }
  }
  return row[b.size()];
}

std::optional<RuleError> bad(const RuleArg& arg, std::string message) {
  return RuleError{arg.offset, std::move(message)};
}

// HostSNI: `*` alone matches every connection (values stay empty); names as Host's.
std::optional<RuleError> build_host_sni(std::vector<RuleArg>& args, Matcher& m) {
  for (RuleArg& arg : args) {
    if (arg.value == "*") {
      if (args.size() > 1) return bad(arg, "HostSNI(`*`) takes no other name, expected `*` alone");
      return std::nullopt;
    }
    std::string host = lowercase(std::move(arg.value));
    if (host.ends_with('.')) host.pop_back();
    if (host.empty() || !is_ascii(host) || host.find_first_of(":/ *") != std::string::npos) {
      return bad(arg, "invalid HostSNI name \"" + host + "\", expected a domain such as `api.example.com` or `*`");
    }
    m.values.push_back(std::move(host));
  }
  return std::nullopt;
}

}  // namespace

const MatcherSpec* find_matcher(std::string_view name, RuleSyntax syntax) {
  for (const auto& spec : kMatchers) {
    if (spec.syntax == syntax && spelling_accepted(name, spec.name)) return &spec;
  }
  return nullptr;
}

std::string unknown_matcher_message(std::string_view name, RuleSyntax syntax) {
  const MatcherSpec* best = nullptr;
  std::size_t best_distance = kAny;
  for (const auto& spec : kMatchers) {
    if (spec.syntax != syntax) continue;
    const std::size_t d = edit_distance(name, spec.name);
    if (d < best_distance) best = &spec, best_distance = d;
  }
  std::string message = "unknown matcher \"" + std::string(name) + "\"";
  for (const auto& spec : kMatchers) {  // a matcher of the other kind of router
    if (spec.syntax == syntax || !spelling_accepted(name, spec.name)) continue;
    message = "\"" + std::string(name) + "\" is a matcher of " +
              (syntax == RuleSyntax::tcp ? "HTTP routers" : "TCP routers (tcp.routers)");
    best_distance = kAny;
    break;
  }
  if (best_distance == 0) {
    return message + ", did you mean \"" + std::string(best->name) +
           "\"? (write names as documented, all-lowercase or all-uppercase)";
  }
  if (best_distance <= std::max<std::size_t>(2, best->name.size() / 4)) {
    return message + ", did you mean \"" + std::string(best->name) + "\"?";
  }
  message += syntax == RuleSyntax::tcp ? ", expected one of the TCP matchers" : ", expected one of";
  bool first = true;
  for (const auto& spec : kMatchers) {
    if (spec.syntax != syntax) continue;
    message += (first ? " " : ", ") + std::string(spec.name);
    first = false;
  }
  return message;
}

std::string arity_message(const MatcherSpec& spec, std::size_t got) {
  std::string needs;
  if (spec.max_args == kAny) {
    needs = "at least " + std::to_string(spec.min_args) + (spec.min_args == 1 ? " argument" : " arguments");
  } else if (spec.min_args == spec.max_args) {
    needs = std::to_string(spec.min_args) + (spec.min_args == 1 ? " argument" : " arguments");
  } else {
    needs = std::to_string(spec.min_args) + " or " + std::to_string(spec.max_args) + " arguments";
  }
  return std::string(spec.name) + " needs " + needs + " (" + std::string(spec.usage) + "), got " +
         std::to_string(got);
}

std::optional<RuleError> build_matcher(const MatcherSpec& spec, std::vector<RuleArg>& args, Matcher& m) {
  m.kind = spec.kind;
  const std::string name(spec.name);
  switch (spec.kind) {
    case Kind::host:
      for (RuleArg& arg : args) {
        std::string host = lowercase(std::move(arg.value));
        if (!is_ascii(host)) return bad(arg, "non-ASCII host, expected its punycode (xn--...) form");
        if (host.ends_with('.')) host.pop_back();
        host = std::string(bare_host(host));
        if (host.empty()) return bad(arg, "empty host, expected a domain such as `example.com`");
        if (host.find(':') != std::string::npos && !IpAddress::parse(host)) {
          return bad(arg, "host \"" + host + "\" has a port, expected the name alone (the port is not matched)");
        }
        m.values.push_back(std::move(host));
      }
      return std::nullopt;
    case Kind::path:
    case Kind::path_prefix:
      for (RuleArg& arg : args) {
        if (!arg.value.starts_with('/')) {
          return bad(arg, "path \"" + arg.value + "\" does not start with \"/\", expected e.g. `/v1`");
        }
        m.values.push_back(std::move(arg.value));
      }
      return std::nullopt;
    case Kind::method:
      for (RuleArg& arg : args) {
        if (arg.value.empty()) return bad(arg, "empty method, expected one such as `POST`");
        m.values.push_back(uppercase(std::move(arg.value)));
      }
      return std::nullopt;
    case Kind::header:
    case Kind::header_regexp:
      if (args[0].value.empty()) return bad(args[0], "empty header name, expected one such as `X-Model`");
      m.values.push_back(lowercase(std::move(args[0].value)));
      if (spec.kind == Kind::header) m.values.push_back(std::move(args[1].value));
      break;
    case Kind::query:
      if (args[0].value.empty()) return bad(args[0], "empty query key, expected one such as `debug`");
      for (RuleArg& arg : args) m.values.push_back(std::move(arg.value));
      return std::nullopt;
    case Kind::client_ip:
      for (RuleArg& arg : args) {
        std::string why;
        auto net = parse_net(arg.value, why);
        if (!net) return bad(arg, "invalid ClientIP \"" + arg.value + "\", " + why);
        m.nets.push_back(*net);
      }
      return std::nullopt;
    case Kind::model:
      for (RuleArg& arg : args) {
        if (arg.value.empty()) return bad(arg, "empty model name, expected one such as `glm4-9b-chat`");
        m.values.push_back(std::move(arg.value));
      }
      return std::nullopt;
    case Kind::host_sni:
      return build_host_sni(args, m);
    case Kind::model_regexp:
    case Kind::host_sni_regexp:
    case Kind::host_regexp:
    case Kind::path_regexp:
      break;
  }
  // The *Regexp matchers: the pattern is the last argument.
  const RuleArg& pattern = args.back();
  if (pattern.value.size() > kMaxRegexChars) {
    return bad(pattern, "regexp in " + name + " is " + std::to_string(pattern.value.size()) +
                            " characters long, expected at most " + std::to_string(kMaxRegexChars));
  }
  std::string why;
  m.regex = compile_regex(pattern.value, why);
  if (!m.regex) return bad(pattern, "invalid regexp in " + name + " (" + why + "), expected ECMAScript syntax");
  return std::nullopt;
}

}  // namespace modelgate::routing::rule_detail
