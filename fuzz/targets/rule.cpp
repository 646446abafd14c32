// Fuzz target: the rule language (parsed from the configuration, so from a file a user edits and
// a running gateway reloads) and its evaluation against a request (which a client controls).
//
// Input: the rule text, then after a newline the request, one part per line: method, host, path,
// query, model, a header name, its value, the client address. Missing parts are empty.
// Beyond crashes: a parsed rule's text parses again; an error points inside the text.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <variant>

#include "check.h"
#include "routing/rule.h"

namespace {

using namespace modelgate::routing;

// The next line of `rest` (without its '\n'), removed from it.
std::string_view next_line(std::string_view& rest) {
  const auto nl = rest.find('\n');
  const std::string_view line = rest.substr(0, nl);
  rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
  return line;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view rest = modelgate::fuzz::as_view(data, size);
  const std::string_view text = next_line(rest);
  auto parsed = parse_rule(text);
  if (const auto* error = std::get_if<RuleError>(&parsed)) {
    FUZZ_CHECK(error->offset <= text.size());
    FUZZ_CHECK(!error->message.empty());
    return 0;
  }
  const Rule& rule = std::get<Rule>(parsed);
  FUZZ_CHECK(std::holds_alternative<Rule>(parse_rule(rule.text())));

  RequestView request;
  request.method = next_line(rest);
  request.host = next_line(rest);
  request.path = next_line(rest);
  request.query = next_line(rest);
  request.model = next_line(rest);
  request.model_state = request.model.empty() ? ModelState::absent : ModelState::present;
  HeaderField header{next_line(rest), {}};
  header.value = next_line(rest);
  request.headers = {&header, header.name.empty() ? 0u : 1u};
  if (auto ip = IpAddress::parse(next_line(rest))) request.client_ip = *ip;
  (void)rule.matches(request);
  return 0;
}
