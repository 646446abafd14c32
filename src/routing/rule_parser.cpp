// The parser of the rule language: recursive descent from the tokens (rule_lexer.h) to the syntax
// tree (rule_tree.h), run once when the configuration loads.
//
// Grammar (Traefik v3, https://doc.traefik.io/traefik/routing/routers/):
//   rule    := or
//   or      := and { "||" and }
//   and     := unary { "&&" unary }
//   unary   := "!" unary | primary
//   primary := "(" or ")" | NAME "(" [ STRING { "," STRING } ] ")"
//
// `&&` and `||` chains become n-ary nodes. Nesting is bounded (kMaxDepth) so that a hostile rule
// cannot overflow the stack. The first error wins; it carries the offset of the token at fault and
// says what was expected there, with a hint for the usual slips (`and`, `or`, `not`).
#include "routing/rule.h"

#include "routing/rule_ascii.h"
#include "routing/rule_lexer.h"
#include "routing/rule_matchers.h"
#include "routing/rule_tree.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
