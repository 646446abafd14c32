// A compiled rule, and the questions the configuration asks of one without a request: which
// models it serves, whether a model can match at all, which paths it names. Those walk the syntax
// tree (rule_tree.h) once per rule when the configuration loads, never per request.
//
// The rule language is in files of their own, each one step: rule_lexer.cpp (tokens),
// rule_parser.cpp (grammar and errors, parse_rule), rule_matchers.cpp (the matcher table and
// argument checks), rule_eval.cpp (matching a request, Rule::matches).
#include "routing/rule.h"

#include "routing/rule_tree.h"

#include <algorithm>
#include <cstdint>
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
