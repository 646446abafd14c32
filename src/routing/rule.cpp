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
#include "routing/rule_ascii.h"
#include "routing/rule_lexer.h"
#include "routing/rule_matchers.h"
#include "routing/rule_tree.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

namespace modelgate::routing {

Rule::Rule(std::string text, std::unique_ptr<Node> root, bool needs_model, bool needs_sni)
    : text_(std::move(text)), root_(std::move(root)), needs_model_(needs_model), needs_sni_(needs_sni) {}
Rule::Rule(Rule&&) noexcept = default;
Rule& Rule::operator=(Rule&&) noexcept = default;
Rule::~Rule() = default;

namespace {

using namespace rule_detail;

void collect_models(const Rule::Node& n, bool negated, std::vector<std::string>& out) {
  if (n.op == Rule::Node::Op::negate) negated = !negated;
  for (const auto& child : n.children) collect_models(*child, negated, out);
  if (n.op != Rule::Node::Op::match || n.matcher.kind != Kind::model || negated) return;
  for (const auto& name : n.matcher.values) {
    if (!contains(out, name)) out.push_back(name);
  }
}

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

std::vector<std::string> Rule::served_models() const {
  std::vector<std::string> out;
  if (root_) collect_models(*root_, false, out);
  return out;
}

bool Rule::may_match_model(std::string_view model) const {
  return root_ != nullptr && eval_for_model(*root_, model) != Tri::no;
}

bool Rule::names_path_under(std::string_view base) const {
  return root_ != nullptr && path_named_under(*root_, false, base);
}

}  // namespace modelgate::routing

namespace modelgate::routing {
namespace {

using namespace rule_detail;

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

}  // namespace

bool Rule::matches(const RequestView& request) const { return root_ != nullptr && eval(*root_, request); }

}  // namespace modelgate::routing

namespace modelgate::routing {
namespace {

using namespace rule_detail;

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
    std::vector<RuleArg> args;
    while (tok_.kind != Tok::rparen) {
      if (tok_.kind == Tok::end) {
        return fail(open, "unbalanced parenthesis: \"(\" of " + std::string(spec->name) +
                              " is never closed, expected \")\"");
      }
      if (tok_.kind != Tok::string) {
        return fail(tok_.offset,
                    "expected an argument in `backquotes` or \"double quotes\", got " + describe(tok_));
      }
      args.push_back(RuleArg{tok_.offset, std::move(tok_.value)});
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
    if (auto error = build_matcher(*spec, args, node->matcher)) return fail(error->offset, std::move(error->message));
    note_needs(node->matcher);
    return node;
  }

  // Whether the body (a model name) or the TLS server name must be read before matching.
  void note_needs(const Matcher& m) {
    if (m.kind == Kind::model || m.kind == Kind::model_regexp) needs_model_ = true;
    if (m.kind == Kind::host_sni_regexp || (m.kind == Kind::host_sni && !m.values.empty())) needs_sni_ = true;
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

std::variant<Rule, RuleError> parse_rule(std::string_view text, RuleSyntax syntax) {
  Parser parser(text, syntax);
  auto root = parser.run();
  if (!root) return std::move(parser).error();
  return Rule(std::string(text), std::move(root), parser.needs_model(), parser.needs_sni());
}

}  // namespace modelgate::routing
