// Evaluation of a compiled rule against a request (HTTP) or a connection (TCP), on every request.
//
// The parser did all that can be done up front (arguments normalised, regexps compiled, CIDRs
// masked), so the evaluator only compares string views. `&&` and `||` chains are n-ary nodes:
// evaluation loops over siblings instead of recursing as deep as the rule is long.
//
// Traefik behaviour kept (pkg/muxer/http/matcher.go, pkg/muxer/tcp): Host and HostRegexp see the
// host lowercased and an IPv6 literal without brackets; Host ignores one trailing dot; Query
// decodes like Go's url.ParseQuery ("+" is a space, pairs with a bad %-escape or a ";" are
// ignored), and Query(`key`) is true when the key is present with any value. HostSNI and
// HostSNIRegexp match the TLS server name as Host and HostRegexp match the host; HostSNI(`*`)
// matches every connection.
//
// Matching allocates nothing, except inside std::regex_search: libstdc++'s linear-time executor
// (regexp.h) keeps its state in vectors, a few dozen small allocations and about 2 us per
// regexp on a short path. Exact matchers cost tens of nanoseconds; prefer them where they do.
#include "routing/rule.h"

#include "routing/ip_net.h"
#include "routing/rule_ascii.h"
#include "routing/rule_tree.h"

#include <algorithm>
#include <regex>
#include <string>

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
