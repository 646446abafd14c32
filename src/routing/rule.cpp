// The rule language: a recursive-descent parser and an allocation-free evaluator.
//
// Rules are parsed once, when the configuration loads, and evaluated for every request. So all
// the work that can be done up front is done there: Host arguments are lowercased, Method
// arguments uppercased, header names lowercased, regexps compiled, CIDRs parsed and masked. The
// evaluator only compares string views. `&&` and `||` chains become n-ary nodes, so evaluation
// loops over siblings instead of recursing as deep as the rule is long.
//
// Grammar (Traefik v3, https://doc.traefik.io/traefik/routing/routers/):
//   rule    := or
//   or      := and { "||" and }
//   and     := unary { "&&" unary }
//   unary   := "!" unary | primary
//   primary := "(" or ")" | NAME "(" [ STRING { "," STRING } ] ")"
//   STRING  := `raw, no escapes` | "double-quoted, with \" and \\"
//
// Traefik behaviour kept (pkg/muxer/http/matcher.go, pkg/rules/parser.go): a matcher name may be
// written as documented, all-lowercase, all-uppercase or Capitalised (host, HOST, Pathprefix);
// Method arguments are uppercased; Host and HostRegexp see the host lowercased and an IPv6
// literal without brackets; Host rejects non-ASCII and ignores one trailing dot on either side;
// Path and PathPrefix must start with "/"; Query decodes like Go's url.ParseQuery ("+" is a
// space, pairs with a bad %-escape or a ";" are ignored).
// Additions: several arguments to an exact matcher mean "any of"; Query(`key`) is true when the
// key is present with any value; a regexp may start with Go's "(?i)" (ECMAScript has no inline
// flags) to ignore case; Model and ModelRegexp test the JSON body's "model" field.
//
// Matching allocates nothing, except inside std::regex_search: libstdc++'s linear-time executor
// (see kRegexSyntax) keeps its state in vectors, a few dozen small allocations and about 2 us per
// regexp on a short path. Exact matchers cost tens of nanoseconds; prefer them where they do.
#include "routing/rule.h"

#include "routing/ip_net.h"
#include "routing/regexp.h"
#include "routing/rule_ascii.h"
#include "routing/rule_lexer.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace modelgate::routing {
namespace {

using namespace rule_detail;

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

constexpr std::size_t kAny = std::numeric_limits<std::size_t>::max();

struct MatcherSpec {
  std::string_view name;
  Kind kind;
  std::size_t min_args;
  std::size_t max_args;    // kAny: no limit
  std::string_view usage;  // the parameters, for error messages
  RuleSyntax syntax = RuleSyntax::http;  // ClientIP is in both (listed twice)
};

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

struct Matcher {
  Kind kind = Kind::host;
  std::vector<std::string> values;  // normalised arguments; Header: {name, value}
  std::optional<std::regex> regex;  // the *Regexp matchers
  std::vector<IpNet> nets;          // ClientIP
};


// ---- Matching. ----

bool contains(const std::vector<std::string>& values, std::string_view s) {
  return std::find(values.begin(), values.end(), s) != values.end();
}

bool search(const std::regex& re, std::string_view s) { return std::regex_search(s.begin(), s.end(), re); }

// The host as Traefik matches it: an IPv6 literal without its brackets.
std::string_view bare_host(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

// HostRegexp sees the host lowercased, as Traefik's does (types.CanonicalDomain). A valid host
// name fits in 253 bytes, so it is lowercased on the stack; only a longer Host header is copied.
bool host_regexp_matches(const std::regex& re, std::string_view host) {
  host = bare_host(host);
  char buffer[256];
  if (host.size() <= sizeof buffer) {
    std::transform(host.begin(), host.end(), buffer, to_lower);
    return std::regex_search(buffer, buffer + host.size(), re);
  }
  std::string copy(host);
  std::transform(copy.begin(), copy.end(), copy.begin(), to_lower);
  return search(re, copy);
}

bool host_matches(const std::vector<std::string>& hosts, std::string_view host) {
  host = bare_host(host);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);  // "a.com." is "a.com"
  if (host.empty()) return false;
  return std::any_of(hosts.begin(), hosts.end(),
                     [&](const std::string& h) { return equals_folded(host, h); });
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool valid_escapes(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size() || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

// Whether the form-decoded `raw` ("+" is a space, %XX a byte) equals `want`, without decoding
// into a buffer. `raw` must have valid escapes.
bool decoded_equals(std::string_view raw, std::string_view want) {
  std::size_t j = 0;
  for (std::size_t i = 0; i < raw.size(); ++i, ++j) {
    char c = raw[i];
    if (c == '+') {
      c = ' ';
    } else if (c == '%') {
      c = static_cast<char>(hex_value(raw[i + 1]) * 16 + hex_value(raw[i + 2]));
      i += 2;
    }
    if (j >= want.size() || want[j] != c) return false;
  }
  return j == want.size();
}

// Like Go's url.ParseQuery then a lookup: pairs split on "&", key and value on the first "=".
bool query_matches(std::string_view query, std::string_view key, const std::string* value) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty() || pair.find(';') != std::string_view::npos) continue;
    const std::size_t eq = pair.find('=');
    const std::string_view k = pair.substr(0, eq);
    const std::string_view v = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    if (!valid_escapes(k) || !valid_escapes(v) || !decoded_equals(k, key)) continue;
    if (value == nullptr || decoded_equals(v, *value)) return true;
  }
  return false;
}

bool matches(const Matcher& m, const RequestView& r) {
  const auto& v = m.values;
  switch (m.kind) {
    case Kind::host:
      return host_matches(v, r.host);
    case Kind::host_regexp:
      return host_regexp_matches(*m.regex, r.host);
    case Kind::path:
      return contains(v, r.path);
    case Kind::path_prefix:
      return std::any_of(v.begin(), v.end(), [&](const std::string& p) { return r.path.starts_with(p); });
    case Kind::path_regexp:
      return search(*m.regex, r.path);
    case Kind::method:
      return contains(v, r.method);
    case Kind::header:
      return std::any_of(r.headers.begin(), r.headers.end(), [&](const HeaderField& f) {
        return equals_folded(f.name, v[0]) && f.value == v[1];
      });
    case Kind::header_regexp:
      return std::any_of(r.headers.begin(), r.headers.end(), [&](const HeaderField& f) {
        return equals_folded(f.name, v[0]) && search(*m.regex, f.value);
      });
    case Kind::query:
      return query_matches(r.query, v[0], v.size() > 1 ? &v[1] : nullptr);
    case Kind::client_ip:
      return std::any_of(m.nets.begin(), m.nets.end(),
                         [&](const IpNet& n) { return in_net(n, r.client_ip); });
    case Kind::model:
      return r.model_state == ModelState::present && contains(v, r.model);
    case Kind::model_regexp:
      return r.model_state == ModelState::present && search(*m.regex, r.model);
    case Kind::host_sni:
      return v.empty() || host_matches(v, r.host);  // empty: HostSNI(`*`)
    case Kind::host_sni_regexp:
      return !r.host.empty() && host_regexp_matches(*m.regex, r.host);
  }
  return false;
}

}  // namespace

struct Rule::Node {
  enum class Op : std::uint8_t { all, any, negate, match };
  Op op = Op::match;
  std::vector<std::unique_ptr<Node>> children;  // all/any: two or more; negate: one
  Matcher matcher;                              // op == match
};

namespace {

bool eval(const Rule::Node& n, const RequestView& r) {
  switch (n.op) {
    case Rule::Node::Op::all:
      return std::all_of(n.children.begin(), n.children.end(), [&](const auto& c) { return eval(*c, r); });
    case Rule::Node::Op::any:
      return std::any_of(n.children.begin(), n.children.end(), [&](const auto& c) { return eval(*c, r); });
    case Rule::Node::Op::negate:
      return !eval(*n.children.front(), r);
    case Rule::Node::Op::match:
      return matches(n.matcher, r);
  }
  return false;
}

// ---- Matcher names and suggestions. ----

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

const MatcherSpec* find_matcher(std::string_view name, RuleSyntax syntax) {
  for (const auto& spec : kMatchers) {
    if (spec.syntax == syntax && spelling_accepted(name, spec.name)) return &spec;
  }
  return nullptr;
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

constexpr int kMaxDepth = 100;

class Parser {
 public:
  Parser(std::string_view text, RuleSyntax syntax) : lexer_(text), syntax_(syntax) {}

  // The syntax tree, or nullptr with error() set.
  std::unique_ptr<Rule::Node> run() {
    if (!advance()) return nullptr;
    if (tok_.kind == Tok::end) return fail(0, "empty rule, expected a matcher such as " + std::string(example()));
    auto root = parse_or();
    if (!root) return nullptr;
    if (tok_.kind == Tok::rparen)
      return fail(tok_.offset, "unbalanced parenthesis: \")\" has no matching \"(\"");
    if (tok_.kind != Tok::end) {
      return fail(tok_.offset, "expected \"&&\" or \"||\" after " + std::string(after_) + ", got " +
                                   describe(tok_) + and_or_hint());
    }
    return root;
  }

  RuleError error() && { return std::move(*error_); }
  bool needs_model() const { return needs_model_; }
  bool needs_sni() const { return needs_sni_; }

 private:
  std::string_view example() const {
    return syntax_ == RuleSyntax::tcp ? "HostSNI(`*`)" : "PathPrefix(`/v1`)";
  }

  using NodePtr = std::unique_ptr<Rule::Node>;

  std::nullptr_t fail(std::size_t offset, std::string message) {
    if (!error_) error_ = RuleError{offset, std::move(message)};
    return nullptr;
  }

  // Reads the next token into tok_; false (with error_ set) on a lexical error.
  bool advance() {
    RuleError lexical;
    if (lexer_.next(tok_, lexical)) return true;
    fail(lexical.offset, std::move(lexical.message));
    return false;
  }

  std::string and_or_hint() const {
    if (tok_.kind != Tok::name) return "";
    if (iequals(tok_.text, "and")) return ", did you mean \"&&\"?";
    if (iequals(tok_.text, "or")) return ", did you mean \"||\"?";
    if (iequals(tok_.text, "not")) return ", did you mean \"!\"?";
    return "";
  }

  NodePtr parse_or() { return parse_chain(Tok::or_, Rule::Node::Op::any); }
  NodePtr parse_and() { return parse_chain(Tok::and_, Rule::Node::Op::all); }

  // operand { op operand }, as one n-ary node.
  NodePtr parse_chain(Tok op_token, Rule::Node::Op op) {
    NodePtr first = op == Rule::Node::Op::any ? parse_and() : parse_unary();
    if (!first || tok_.kind != op_token) return first;
    auto node = std::make_unique<Rule::Node>();
    node->op = op;
    node->children.push_back(std::move(first));
    while (tok_.kind == op_token) {
      const std::string_view op_text = tok_.text;
      if (!advance()) return nullptr;
      if (tok_.kind == Tok::end) {
        return fail(tok_.offset, "expected a matcher, \"!\" or \"(\" after \"" + std::string(op_text) +
                                     "\", got end of rule");
      }
      NodePtr next = op == Rule::Node::Op::any ? parse_and() : parse_unary();
      if (!next) return nullptr;
      node->children.push_back(std::move(next));
    }
    return node;
  }

  NodePtr parse_unary() {
    if (tok_.kind != Tok::not_) return parse_primary();
    if (++depth_ > kMaxDepth) return fail(tok_.offset, "rule nested too deeply, expected at most 100 levels");
    if (!advance()) return nullptr;
    NodePtr operand = parse_unary();
    --depth_;
    if (!operand) return nullptr;
    auto node = std::make_unique<Rule::Node>();
    node->op = Rule::Node::Op::negate;
    node->children.push_back(std::move(operand));
    return node;
  }

  NodePtr parse_primary() {
    if (tok_.kind == Tok::name) return parse_matcher();
    if (tok_.kind != Tok::lparen) {
      return fail(tok_.offset, "expected a matcher such as " + std::string(example()) + ", \"!\" or \"(\", got " +
                                   describe(tok_));
    }
    const std::size_t open = tok_.offset;
    if (++depth_ > kMaxDepth) return fail(open, "rule nested too deeply, expected at most 100 levels");
    if (!advance()) return nullptr;
    if (tok_.kind == Tok::rparen) return fail(tok_.offset, "empty parentheses, expected a matcher inside");
    NodePtr inner = parse_or();
    if (!inner) return nullptr;
    if (tok_.kind == Tok::end) {
      return fail(open, "unbalanced parenthesis: \"(\" is never closed, expected \")\"");
    }
    if (tok_.kind != Tok::rparen) {
      return fail(tok_.offset, "expected \"&&\", \"||\" or \")\" after " + std::string(after_) + ", got " +
                                   describe(tok_) + and_or_hint());
    }
    --depth_;
    if (!advance()) return nullptr;
    after_ = "\")\"";
    return inner;
  }

  NodePtr parse_matcher() {
    const Token name = tok_;
    const MatcherSpec* spec = find_matcher(name.text, syntax_);
    if (spec == nullptr) return fail(name.offset, unknown_matcher_message(name.text, syntax_));
    if (!advance()) return nullptr;
    if (tok_.kind != Tok::lparen) {
      return fail(tok_.offset, "expected \"(\" after " + std::string(spec->name) + ", got " + describe(tok_));
    }
    const std::size_t open = tok_.offset;
    if (!advance()) return nullptr;
    std::vector<Token> args;
    while (tok_.kind != Tok::rparen) {
      if (tok_.kind == Tok::end) {
        return fail(open, "unbalanced parenthesis: \"(\" of " + std::string(spec->name) +
                              " is never closed, expected \")\"");
      }
      if (tok_.kind != Tok::string) {
        return fail(tok_.offset,
                    "expected an argument in `backquotes` or \"double quotes\", got " + describe(tok_));
      }
      args.push_back(std::move(tok_));
      if (!advance()) return nullptr;
      if (tok_.kind == Tok::comma) {
        if (!advance()) return nullptr;
        if (tok_.kind == Tok::rparen) return fail(tok_.offset, "expected an argument after \",\", got \")\"");
      } else if (tok_.kind != Tok::rparen && tok_.kind != Tok::end) {
        return fail(tok_.offset, "expected \",\" or \")\" after an argument of " + std::string(spec->name) +
                                     ", got " + describe(tok_));
      }
    }
    if (args.size() < spec->min_args) return fail(tok_.offset, arity_message(*spec, args.size()));
    if (args.size() > spec->max_args)
      return fail(args[spec->max_args].offset, arity_message(*spec, args.size()));
    if (!advance()) return nullptr;
    after_ = "matcher";

    auto node = std::make_unique<Rule::Node>();
    node->op = Rule::Node::Op::match;
    if (!build(*spec, args, node->matcher)) return nullptr;
    return node;
  }

  // Validates and normalises the arguments into `m`; false with error_ set if one is wrong.
  bool build(const MatcherSpec& spec, std::vector<Token>& args, Matcher& m) {
    m.kind = spec.kind;
    const std::string name(spec.name);
    const auto bad = [&](const Token& arg, const std::string& message) {
      return fail(arg.offset, message), false;
    };
    switch (spec.kind) {
      case Kind::host:
        for (Token& arg : args) {
          std::string host = lowercase(std::move(arg.value));
          if (!is_ascii(host)) return bad(arg, "non-ASCII host, expected its punycode (xn--...) form");
          if (host.ends_with('.')) host.pop_back();
          host = std::string(bare_host(host));
          if (host.empty()) return bad(arg, "empty host, expected a domain such as `example.com`");
          if (host.find(':') != std::string::npos && !IpAddress::parse(host)) {
            return bad(arg,
                       "host \"" + host + "\" has a port, expected the name alone (the port is not matched)");
          }
          m.values.push_back(std::move(host));
        }
        return true;
      case Kind::path:
      case Kind::path_prefix:
        for (Token& arg : args) {
          if (!arg.value.starts_with('/')) {
            return bad(arg, "path \"" + arg.value + "\" does not start with \"/\", expected e.g. `/v1`");
          }
          m.values.push_back(std::move(arg.value));
        }
        return true;
      case Kind::method:
        for (Token& arg : args) {
          if (arg.value.empty()) return bad(arg, "empty method, expected one such as `POST`");
          m.values.push_back(uppercase(std::move(arg.value)));
        }
        return true;
      case Kind::header:
      case Kind::header_regexp:
        if (args[0].value.empty()) return bad(args[0], "empty header name, expected one such as `X-Model`");
        m.values.push_back(lowercase(std::move(args[0].value)));
        if (spec.kind == Kind::header) m.values.push_back(std::move(args[1].value));
        break;
      case Kind::query:
        if (args[0].value.empty()) return bad(args[0], "empty query key, expected one such as `debug`");
        for (Token& arg : args) m.values.push_back(std::move(arg.value));
        return true;
      case Kind::client_ip:
        for (Token& arg : args) {
          std::string why;
          auto net = parse_net(arg.value, why);
          if (!net) return bad(arg, "invalid ClientIP \"" + arg.value + "\", " + why);
          m.nets.push_back(*net);
        }
        return true;
      case Kind::model:
        needs_model_ = true;
        for (Token& arg : args) {
          if (arg.value.empty()) return bad(arg, "empty model name, expected one such as `glm4-9b-chat`");
          m.values.push_back(std::move(arg.value));
        }
        return true;
      case Kind::model_regexp:
        needs_model_ = true;
        break;
      case Kind::host_sni:
        return build_host_sni(args, m);
      case Kind::host_sni_regexp:
        needs_sni_ = true;
        break;
      case Kind::host_regexp:
      case Kind::path_regexp:
        break;
    }
    // The *Regexp matchers: the pattern is the last argument.
    const Token& pattern = args.back();
    if (pattern.value.size() > kMaxRegexChars) {
      return bad(pattern, "regexp in " + name + " is " + std::to_string(pattern.value.size()) +
                              " characters long, expected at most " + std::to_string(kMaxRegexChars));
    }
    std::string why;
    m.regex = compile_regex(pattern.value, why);
    if (!m.regex)
      return bad(pattern, "invalid regexp in " + name + " (" + why + "), expected ECMAScript syntax");
    return true;
  }

  // HostSNI: `*` alone matches every connection (values stay empty); names as Host's.
  bool build_host_sni(std::vector<Token>& args, Matcher& m) {
    for (Token& arg : args) {
      if (arg.value == "*") {
        if (args.size() > 1) return fail(arg.offset, "HostSNI(`*`) takes no other name, expected `*` alone"), false;
        return true;
      }
      std::string host = lowercase(std::move(arg.value));
      if (host.ends_with('.')) host.pop_back();
      if (host.empty() || !is_ascii(host) || host.find_first_of(":/ *") != std::string::npos) {
        return fail(arg.offset, "invalid HostSNI name \"" + host +
                                    "\", expected a domain such as `api.example.com` or `*`"),
               false;
      }
      m.values.push_back(std::move(host));
    }
    needs_sni_ = true;
    return true;
  }

  Lexer lexer_;
  RuleSyntax syntax_;
  Token tok_;
  std::optional<RuleError> error_;
  std::string_view after_ = "matcher";  // what the last primary was, for "expected && after ..."
  int depth_ = 0;
  bool needs_model_ = false;
  bool needs_sni_ = false;
};

}  // namespace

Rule::Rule(std::string text, std::unique_ptr<Node> root, bool needs_model, bool needs_sni)
    : text_(std::move(text)), root_(std::move(root)), needs_model_(needs_model), needs_sni_(needs_sni) {}
Rule::Rule(Rule&&) noexcept = default;
Rule& Rule::operator=(Rule&&) noexcept = default;
Rule::~Rule() = default;

bool Rule::matches(const RequestView& request) const { return root_ != nullptr && eval(*root_, request); }

namespace {

void collect_models(const Rule::Node& n, bool negated, std::vector<std::string>& out) {
  if (n.op == Rule::Node::Op::negate) negated = !negated;
  for (const auto& child : n.children) collect_models(*child, negated, out);
  if (n.op != Rule::Node::Op::match || n.matcher.kind != Kind::model || negated) return;
  for (const auto& name : n.matcher.values) {
    if (!contains(out, name)) out.push_back(name);
  }
}

}  // namespace

std::vector<std::string> Rule::served_models() const {
  std::vector<std::string> out;
  if (root_) collect_models(*root_, false, out);
  return out;
}

namespace {

// Kleene's three-valued logic: a matcher other than Model/ModelRegexp is "maybe" (the request's
// host, path and headers are not known), so the rule can match unless it is false whatever they are.
enum class Tri : std::uint8_t { no, maybe, yes };

Tri eval_for_model(const Rule::Node& n, std::string_view model) {
  using Op = Rule::Node::Op;
  switch (n.op) {
    case Op::all: {
      Tri t = Tri::yes;
      for (const auto& c : n.children) t = std::min(t, eval_for_model(*c, model));
      return t;
    }
    case Op::any: {
      Tri t = Tri::no;
      for (const auto& c : n.children) t = std::max(t, eval_for_model(*c, model));
      return t;
    }
    case Op::negate: {
      const Tri t = eval_for_model(*n.children.front(), model);
      return t == Tri::maybe ? t : t == Tri::yes ? Tri::no : Tri::yes;
    }
    case Op::match:
      if (n.matcher.kind == Kind::model) return contains(n.matcher.values, model) ? Tri::yes : Tri::no;
      if (n.matcher.kind == Kind::model_regexp) return search(*n.matcher.regex, model) ? Tri::yes : Tri::no;
      return Tri::maybe;
  }
  return Tri::maybe;
}

bool path_named_under(const Rule::Node& n, bool negated, std::string_view base) {
  if (n.op == Rule::Node::Op::negate) negated = !negated;
  for (const auto& child : n.children) {
    if (path_named_under(*child, negated, base)) return true;
  }
  if (n.op != Rule::Node::Op::match || negated) return false;
  if (n.matcher.kind != Kind::path && n.matcher.kind != Kind::path_prefix) return false;
  return std::any_of(n.matcher.values.begin(), n.matcher.values.end(),
                     [&](const std::string& v) { return v.starts_with(base); });
}

}  // namespace

bool Rule::may_match_model(std::string_view model) const {
  return root_ != nullptr && eval_for_model(*root_, model) != Tri::no;
}

bool Rule::names_path_under(std::string_view base) const {
  return root_ != nullptr && path_named_under(*root_, false, base);
}

std::variant<Rule, RuleError> parse_rule(std::string_view text, RuleSyntax syntax) {
  Parser parser(text, syntax);
  auto root = parser.run();
  if (!root) return std::move(parser).error();
  return Rule(std::string(text), std::move(root), parser.needs_model(), parser.needs_sni());
}

}  // namespace modelgate::routing
