// The rule language of routers, Traefik's with two additions for LLM traffic.
//
//   Host(`a.example.com`)            HostRegexp(`^.+\.example\.com$`)
//   Path(`/v1/models`)               PathPrefix(`/v1`)      PathRegexp(`^/v1/(chat/)?completions$`)
//   Method(`POST`)                   Header(`X-Model`, `glm4`)   HeaderRegexp(`X-Model`, `^glm`)
//   Query(`debug`, `1`)  Query(`debug`)   ClientIP(`10.0.0.0/8`)  ClientIP(`::1`)
//   Model(`glm4-9b-chat`)            ModelRegexp(`^Qwen2\.5-`)   -- the JSON body's "model" field
//
// combined with `!` (highest precedence), `&&`, `||` (lowest) and parentheses. Arguments are
// backquoted or double-quoted strings. Regexps are searched (unanchored), as Go's MatchString.
// Host matching ignores case and the port; several arguments to one matcher mean "any of".
//
// TCP routers (docs/tcp.md) have their own matchers, Traefik's: HostSNI(`*`) (every connection),
// HostSNI(`a.example`, ...) and HostSNIRegexp(`^.+\.example$`) on the TLS server name, ClientIP;
// with the same operators. They see RequestView::host as the SNI ("" without TLS or a name).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "http1/field.h"
#include "routing/ip_net.h"

namespace modelgate::routing {

using HeaderField = http1::Field;

enum class ModelState : std::uint8_t {
  not_read,  // body not read yet: a Model matcher cannot decide
  absent,    // no body, body not JSON, or no string "model" field
  present,
};

// What a rule sees of a request. All views point into buffers owned by the session.
struct RequestView {
  std::string_view method;
  std::string_view host;   // Host header without the port, as sent (case preserved)
  std::string_view path;   // target up to '?', not decoded
  std::string_view query;  // raw query after '?', "" when none
  std::span<const HeaderField> headers;
  IpAddress client_ip;
  ModelState model_state = ModelState::not_read;
  std::string_view model;
};

struct RuleError {
  std::size_t offset = 0;  // 0-based character offset in the rule text
  std::string message;     // what is wrong, what was expected
};

enum class RuleSyntax : std::uint8_t { http, tcp };

class Rule {
 public:
  struct Node;  // the syntax tree; defined in rule_tree.h

  Rule(Rule&&) noexcept;
  Rule& operator=(Rule&&) noexcept;
  ~Rule();

  bool matches(const RequestView& request) const;
  // True when some Model/ModelRegexp matcher appears: the body must be read before matching.
  bool needs_model() const { return needs_model_; }
  // The names of the Model matchers that can make the rule true: those under an even number of
  // `!` (`!Model(x)` says x is not served here). Each name once, in the order written.
  std::vector<std::string> served_models() const;
  // Whether a request for `model` can match, judging by the Model/ModelRegexp matchers alone
  // (every other matcher could go either way): false only when the rule is false for that model
  // whatever the request's path, host and headers are.
  bool may_match_model(std::string_view model) const;
  // True when a Path or PathPrefix matcher not under an odd number of `!` has an argument that
  // starts with `base`: the rule names that part of the URL space explicitly (PathPrefix(`/v1`)
  // does not name `/v1/models`; Path(`/v1/models`) and PathPrefix(`/v1/models/`) do).
  bool names_path_under(std::string_view base) const;
  const std::string& text() const { return text_; }
  // TCP rules: some HostSNI names a host (not `*`) or some HostSNIRegexp appears, so the
  // connection's TLS ClientHello must be read before matching.
  bool needs_sni() const { return needs_sni_; }

 private:
  friend std::variant<Rule, RuleError> parse_rule(std::string_view text, RuleSyntax syntax);
  Rule(std::string text, std::unique_ptr<Node> root, bool needs_model, bool needs_sni);
  std::string text_;
  std::unique_ptr<Node> root_;
  bool needs_model_ = false;
  bool needs_sni_ = false;
};

std::variant<Rule, RuleError> parse_rule(std::string_view text, RuleSyntax syntax = RuleSyntax::http);

}  // namespace modelgate::routing
