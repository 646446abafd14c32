// Reads the YAML configuration (Traefik's file-provider shape plus modelgate's keys) into a Config.
//
// The loader walks the yaml-cpp tree once, section by section, with one rule: a problem is
// recorded and the walk goes on, so a single run reports everything wrong with the file. Each
// problem points at the key or value it is about. yaml-cpp marks are 0-based, with columns in
// bytes; diagnostics are 1-based with columns in characters, as editors count them.
//
// Every map is read against a Schema: the keys modelgate knows, the Traefik options it accepts but
// ignores (a warning naming the option, so a Traefik file loads), and Traefik's spelling of a few
// keys that modelgate names differently. Anything else is an unknown key, with a "did you mean"
// from the keys valid at that place (Levenshtein distance).
//
// Names that refer to other sections (router -> service, router -> entry point, ping -> entry
// point) are checked after the walk, once every name is known. A Config is returned only when
// there is no error; warnings do not prevent it.
#include "config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "routing/rule.h"

namespace modelgate::config {

namespace {

// ---------------------------------------------------------------------------------------------
// Text helpers

char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = lower_char(c);
  return r;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return lower_char(x) == lower_char(y); });
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Levenshtein distance, ignoring case (two rows).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (lower_char(a[i - 1]) == lower_char(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// The candidate `word` is most likely a misspelling of, if any is close enough: a small edit
// distance, or one containing the other ("health" -> "healthCheck").
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string_view>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = SIZE_MAX;
  const std::string w = lower(word);
  for (std::string_view c : candidates) {
    const std::size_t d = edit_distance(word, c);
    const std::string lc = lower(c);
    const bool typo = d <= std::max<std::size_t>(2, std::min(word.size(), c.size()) / 3) &&
                      d < std::max(word.size(), c.size()) && d < word.size();
    const bool contained = (w.size() >= 4 && lc.find(w) != std::string::npos) ||
                           (lc.size() >= 4 && w.find(lc) != std::string::npos);
    if ((typo || contained) && d < best_distance) {
      best = std::string(c);
      best_distance = d;
    }
  }
  return best;
}

std::string join_quoted(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += fmt::format("\"{}\"", names[i]);
  }
  return out;
}

// ", did you mean "X"?" or ", expected one of A, B or C" (the latter only for short lists).
std::string hint(std::string_view word, const std::vector<std::string_view>& candidates,
                 std::string_view what = "one of") {
  if (auto best = closest(word, candidates)) return fmt::format(", did you mean \"{}\"?", *best);
  if (candidates.empty()) return {};
  if (candidates.size() > 12) return {};
  return fmt::format(", expected {} {}", what, join_quoted(candidates));
}

std::string join_path(std::string_view parent, std::string_view child) {
  return parent.empty() ? std::string(child) : fmt::format("{}.{}", parent, child);
}

// How a node looks, for "expected X, got Y".
std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  std::string s = n.Scalar();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return fmt::format("\"{}\"", s);
}

// ---------------------------------------------------------------------------------------------
// Values with a syntax of their own. Each returns "" on success, else what is wrong.

bool valid_host_name(std::string_view h) {
  return !h.empty() && std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

bool valid_ipv6(std::string_view h) {
  return !h.empty() && h.find(':') != std::string_view::npos &&
         std::all_of(h.begin(), h.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.';
         });
}

std::string parse_port(std::string_view p, bool allow_zero, std::uint16_t& port) {
  if (p.empty()) return "the port is missing";
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || !is_digits(p)) {
    return fmt::format("the port \"{}\" is not a number", p);
  }
  if (value > 65535) return fmt::format("the port {} is above 65535", value);
  if (value == 0 && !allow_zero) return "the port must not be 0";
  port = static_cast<std::uint16_t>(value);
  return {};
}

// Splits "HOST:PORT", "[IPv6]:PORT" or, when `default_port` is set, a bare "HOST"/"[IPv6]".
std::string split_host_port(std::string_view a, std::optional<std::uint16_t> default_port,
                            bool allow_zero, std::string& host, std::uint16_t& port) {
  std::string_view h;
  std::optional<std::string_view> p;
  if (a.starts_with('[')) {
    const auto close = a.find(']');
    if (close == std::string_view::npos) return "\"]\" is missing after the IPv6 address";
    h = a.substr(1, close - 1);
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return fmt::format("unexpected \"{}\" after \"]\"", rest);
      p = rest.substr(1);
    }
    if (!valid_ipv6(h)) return fmt::format("\"{}\" is not an IPv6 address", h);
  } else {
    const auto colon = a.rfind(':');
    if (colon != std::string_view::npos) {
      h = a.substr(0, colon);
      p = a.substr(colon + 1);
      if (h.find(':') != std::string_view::npos) {
        return "an IPv6 address must be written in brackets, e.g. [::1]:8080";
      }
    } else {
      h = a;
    }
    if (!h.empty() && !valid_host_name(h)) return fmt::format("\"{}\" is not a valid host", h);
  }
  if (p) {
    if (auto why = parse_port(*p, allow_zero, port); !why.empty()) return why;
  } else if (default_port) {
    port = *default_port;
  } else {
    return "the port is missing";
  }
  host = std::string(h);
  return {};
}

// A listening address: ":8080", "HOST:8080", "[::1]:8080"; Traefik's "/tcp" suffix is accepted.
std::string parse_listen_address(std::string_view a, std::string& host, std::uint16_t& port) {
  if (a.ends_with("/tcp")) a.remove_suffix(4);
  if (a.ends_with("/udp")) return "UDP is not supported";
  return split_host_port(a, std::nullopt, /*allow_zero=*/true, host, port);
}

bool is_wildcard(std::string_view host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

// "http://HOST[:PORT][/BASE]" into the fields of `s`; "https" is reported by the caller.
std::string parse_server_url(std::string_view url, Server& s) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return "the scheme is missing";
  if (!iequal(url.substr(0, sep), "http")) {
    return fmt::format("the scheme \"{}\" is not supported", url.substr(0, sep));
  }
  const std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) return "a query or fragment is not allowed";
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return "user information (\"user@\") is not supported";
  std::string host;
  std::uint16_t port = 80;
  if (auto why = split_host_port(authority, std::uint16_t{80}, /*allow_zero=*/false, host, port);
      !why.empty()) {
    return why;
  }
  if (host.empty()) return "the host is missing";
  while (path.ends_with('/')) path.remove_suffix(1);
  s.url = std::string(url);
  s.host = std::move(host);
  s.port = port;
  s.basePath = std::string(path);
  return {};
}

// Optional-size parsing: "16384", "16KiB", "32MiB", "1MB" (units ignore case; KB = 1000).
std::optional<std::size_t> parse_size(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + i, value);
  if (ec != std::errc() || end != t.data() + i) return std::nullopt;
  std::string_view unit = t.substr(i);
  if (unit.starts_with(' ')) unit.remove_prefix(1);
  static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"", 1},          {"b", 1},          {"kb", 1000},        {"mb", 1000 * 1000},
      {"gb", 1000'000'000}, {"kib", 1024}, {"mib", 1024 * 1024}, {"gib", 1024ull * 1024 * 1024}};
  for (const auto& [name, factor] : kUnits) {
    if (iequal(unit, name)) {
      if (value > SIZE_MAX / factor) return std::nullopt;
      return static_cast<std::size_t>(value * factor);
    }
  }
  return std::nullopt;
}

const std::vector<std::string_view> kStrategies = {
    "round_robin", "weighted_round_robin", "least_request", "p2c", "random", "ip_hash",
    "consistent_hash"};

bool valid_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

bool valid_hash_key(std::string_view k) {
  if (k == "client_ip") return true;
  if (k.starts_with("header:")) return valid_token(k.substr(7));
  if (k.starts_with("cookie:")) return valid_token(k.substr(7));
  if (k.starts_with("body:")) return !k.substr(5).empty();
  return false;
}

// ---------------------------------------------------------------------------------------------
// Schemas: the keys valid in each map.

struct Schema {
  std::vector<std::string_view> known;
  std::vector<std::string_view> traefik = {};  // Traefik options accepted, warned about, ignored
  std::vector<std::pair<std::string_view, std::string_view>> aliases = {};  // Traefik's name -> ours
};

const Schema kTop{
    {"log", "ping", "admin", "accessLog", "usage", "shutdown", "entryPoints", "http", "models"},
    {"api", "providers", "certificatesResolvers", "experimental", "metrics", "tracing",
     "serversTransport", "tcpServersTransport", "global", "hostResolver", "spiffe", "core", "ocsp",
     "tcp", "udp", "tls"}};
const Schema kLog{{"level"}, {"filePath", "format", "noColor", "maxSize", "maxAge", "maxBackups",
                              "compress"}};
const Schema kPing{{"entryPoint", "path"}, {"manualRouting", "terminatingStatusCode"}};
const Schema kAdmin{{"address", "token", "enabled"}};
const Schema kAccessLog{{"path", "format", "fields"},
                        {"bufferingSize", "filters", "addInternals"},
                        {{"filePath", "path"}}};
const Schema kShutdown{{"drainTimeout"}};
const Schema kEntryPoint{{"address", "timeouts", "limits", "upstreamHeader"},
                         {"http", "transport", "forwardedHeaders", "proxyProtocol", "http2", "http3",
                          "udp", "asDefault", "observability", "reusePort", "allowACMEByPass"}};
const Schema kEntryPointTimeouts{{"readHeader", "idle"}};
const Schema kLimits{{"maxHeaderBytes", "maxHeaders", "maxBodyBytes"}};
const Schema kHttp{{"routers", "services"}, {"middlewares", "serversTransports"}};
const Schema kRouter{{"rule", "service", "priority", "entryPoints", "upstreamHeader"},
                     {"middlewares", "tls", "observability", "ruleSyntax"}};
const Schema kService{{"loadBalancer", "weighted", "mirroring", "failover"}};
const Schema kLoadBalancer{{"servers", "passHostHeader", "strategy", "hashKey", "healthCheck",
                            "passiveHealth", "retry", "timeouts", "discoverModels"},
                           {"sticky", "serversTransport", "responseForwarding", "passiveHealthCheck"}};
const Schema kServer{{"url", "weight", "backup", "maxConnections", "drain"}, {"preservePath"}};
const Schema kHealthCheck{{"path", "interval", "timeout", "expectStatus", "rise", "fall"},
                          {"scheme", "mode", "method", "port", "hostname", "followRedirects",
                           "headers", "unhealthyInterval"},
                          {{"status", "expectStatus"}}};
const Schema kPassiveHealth{{"consecutiveFailures", "baseEjection", "maxEjectionPercent"}};
const Schema kRetry{{"attempts", "retryOn", "budgetPercent"}};
const Schema kUpstreamTimeouts{{"connect", "responseHeader", "streamIdle", "total"}};
const Schema kDiscoverModels{{"interval", "path"}};
const Schema kModel{{"target", "fallbacks"}};

// A value in the tree, with the dotted path naming it in messages and the place to point at.
struct Entry {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;
};

constexpr long long kNoMax = LLONG_MAX;

// ---------------------------------------------------------------------------------------------

class Loader {
 public:
  Loader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {
    line_starts_.push_back(0);
    for (std::size_t i = 0; i < text_.size(); ++i) {
      if (text_[i] == '\n') line_starts_.push_back(i + 1);
    }
  }

  LoadResult run();

 private:
  struct Reference {
    std::string name;
    std::string path;
    YAML::Mark mark;
  };
  struct Listener {
    std::string what;  // entry point "web" | the admin API
    std::string path;
    std::string text;
    std::string host;
    std::uint16_t port = 0;
    std::optional<YAML::Mark> mark;  // unset: the admin default, not written in the file
  };

  // Places and reporting
  std::string_view line_text(int line) const;
  SourcePos pos_at(int line, int byte_column) const;
  SourcePos pos(const YAML::Mark& m) const { return pos_at(m.line, m.column); }
  SourcePos rule_char_pos(const YAML::Node& scalar, std::size_t offset) const;
  void report(Severity severity, SourcePos p, std::string message);
  void error(const YAML::Mark& m, std::string message) {
    report(Severity::error, pos(m), std::move(message));
  }
  void warning(const YAML::Mark& m, std::string message) {
    report(Severity::warning, pos(m), std::move(message));
  }
  void type_error(const Entry& e, std::string_view expected) {
    error(e.mark, fmt::format("{}: expected {}, got {}", e.path, expected, describe(e.node)));
  }

  // Walking
  template <class F>
  void each_key(const Entry& map, const Schema& schema, F&& on);
  template <class F>
  void each_named(const Entry& map, std::string_view expected, F&& on);
  template <class F>
  void each_item(const Entry& list, std::string_view expected, F&& on);
  bool section_enabled(const Entry& e);

  // Values: each reports its own problem and leaves `out` alone when the value is invalid.
  bool read_string(const Entry& e, std::string& out, std::string_view expected = "a string");
  bool read_bool(const Entry& e, bool& out);
  bool read_int(const Entry& e, int& out, long long min, long long max);
  bool read_status(const Entry& e, int& out, bool allow_zero);
  bool read_duration(const Entry& e, Duration& out, bool allow_zero);
  bool read_size(const Entry& e, std::size_t& out);
  bool read_url_path(const Entry& e, std::string& out);
  bool read_listen_address(const Entry& e, std::string& host, std::uint16_t& port);
  void read_string_list(const Entry& e, std::vector<std::string>& out);

  // Sections
  void load_root(const YAML::Node& root);
  void load_log(const Entry& e);
  void load_ping(const Entry& e);
  void load_admin(const Entry& e);
  void load_access_log(const Entry& e);
  void load_shutdown(const Entry& e);
  void load_entry_points(const Entry& e);
  void load_entry_point(const std::string& name, const YAML::Mark& key, const Entry& e);
  void load_http(const Entry& e);
  void load_router(const std::string& name, const YAML::Mark& key, const Entry& e);
  void check_rule(const Entry& e, Router& r);
  void load_service(const std::string& name, const YAML::Mark& key, const Entry& e);
  void load_load_balancer(const Entry& e, LoadBalancer& lb);
  void load_servers(const Entry& e, LoadBalancer& lb);
  void load_health_check(const Entry& e, HealthCheck& hc);
  void load_passive_health(const Entry& e, PassiveHealth& ph);
  void load_retry(const Entry& e, Retry& r);
  void load_upstream_timeouts(const Entry& e, UpstreamTimeouts& t);
  void load_discover_models(const Entry& e, DiscoverModels& d);
  void load_models(const Entry& e);
  void check_references();
  void check_listeners();
  LoadResult finish();

  std::string_view text_;
  std::string file_;
  std::vector<std::size_t> line_starts_;
  Config config_;
  std::vector<Diagnostic> diagnostics_;
  std::vector<std::pair<std::string, Reference>> service_refs_;  // router name, reference
  std::vector<Reference> entry_point_refs_;
  std::vector<Listener> listeners_;
  std::optional<YAML::Mark> entry_points_key_;
  std::optional<YAML::Mark> admin_address_;
};

// --- places ----------------------------------------------------------------------------------

std::string_view Loader::line_text(int line) const {
  if (line < 0 || static_cast<std::size_t>(line) >= line_starts_.size()) return {};
  const std::size_t start = line_starts_[line];
  std::size_t end = text_.find('\n', start);
  if (end == std::string_view::npos) end = text_.size();
  std::string_view l = text_.substr(start, end - start);
  if (l.ends_with('\r')) l.remove_suffix(1);
  return l;
}

SourcePos Loader::pos_at(int line, int byte_column) const {
  if (line < 0) return {};
  if (byte_column < 0) byte_column = 0;
  const std::string_view l = line_text(line);
  const std::size_t n = std::min<std::size_t>(byte_column, l.size());
  // Count characters, not bytes: skip UTF-8 continuation bytes.
  const auto chars = std::count_if(l.begin(), l.begin() + static_cast<std::ptrdiff_t>(n),
                                   [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  return {line + 1, static_cast<int>(chars) + 1 + (byte_column - static_cast<int>(n))};
}

// Where character `offset` of a scalar's value is in the file. Exact for a scalar on one line
// (plain, 'single' or "double" quoted); for a folded or block scalar, the scalar's start.
SourcePos Loader::rule_char_pos(const YAML::Node& scalar, std::size_t offset) const {
  const YAML::Mark m = scalar.Mark();
  const std::string_view line = line_text(m.line);
  const auto col = static_cast<std::size_t>(std::max(m.column, 0));
  if (col >= line.size()) return pos(m);
  const char quote = line[col];
  if (quote == '|' || quote == '>') return pos(m);
  if (quote != '"' && quote != '\'') {
    // Plain: the value is the text itself, as far as it runs on this line.
    const std::string& value = scalar.Scalar();
    std::size_t same = 0;
    while (same < value.size() && col + same < line.size() && value[same] == line[col + same]) ++same;
    if (offset <= same) return pos_at(m.line, static_cast<int>(col + offset));
    return pos(m);
  }
  // Quoted: walk the raw text, decoding escapes, until `offset` decoded bytes have passed.
  std::size_t i = col + 1;
  std::size_t decoded = 0;
  while (i < line.size() && decoded < offset) {
    const char c = line[i];
    if (c == quote) {
      if (quote == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
        i += 2;
        ++decoded;
        continue;
      }
      break;  // the closing quote
    }
    if (quote == '"' && c == '\\' && i + 1 < line.size()) {
      const char e = line[i + 1];
      i += e == 'x' ? 4 : e == 'u' ? 6 : e == 'U' ? 10 : 2;
      decoded += e == 'u' || e == 'U' ? 2 : 1;  // approximate: escapes are rare in rules
      continue;
    }
    ++i;
    ++decoded;
  }
  if (decoded == offset) return pos_at(m.line, static_cast<int>(i));
  return pos(m);
}

void Loader::report(Severity severity, SourcePos p, std::string message) {
  diagnostics_.push_back(Diagnostic{severity, file_, p.line, p.column, std::move(message)});
}

// --- walking ---------------------------------------------------------------------------------

template <class F>
void Loader::each_key(const Entry& map, const Schema& schema, F&& on) {
  if (!map.node.IsDefined() || map.node.IsNull()) return;
  if (!map.node.IsMap()) {
    type_error(map, "a map");
    return;
  }
  const std::string where = map.path.empty() ? std::string() : map.path + ": ";
  std::vector<std::pair<std::string_view, YAML::Mark>> seen;
  for (const auto& kv : map.node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      error(key.Mark(), fmt::format("{}a key must be a name, got {}", where, describe(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    const Entry e{kv.second, join_path(map.path, name),
                  kv.second.IsNull() ? key.Mark() : kv.second.Mark()};

    std::optional<std::string_view> canonical;
    for (std::string_view k : schema.known) {
      if (k == name) canonical = k;
    }
    for (const auto& [from, to] : schema.aliases) {
      if (from == name) canonical = to;
    }
    if (!canonical) {
      // Traefik reads keys without regard to case; accept that, and say how we spell it.
      for (std::string_view k : schema.known) {
        if (iequal(k, name)) canonical = k;
      }
      if (canonical) {
        warning(key.Mark(), fmt::format("{}\"{}\" is spelled \"{}\" (accepted, as Traefik ignores case)",
                                        where, name, *canonical));
      }
    }
    if (!canonical) {
      const auto t = std::find_if(schema.traefik.begin(), schema.traefik.end(),
                                  [&](std::string_view k) { return iequal(k, name); });
      if (t != schema.traefik.end()) {
        warning(key.Mark(), fmt::format("{}: Traefik option \"{}\" is not implemented by modelgate "
                                        "and is ignored",
                                        e.path, *t));
        continue;
      }
      if (name == "<<") {
        error(key.Mark(), fmt::format("{}YAML merge keys (\"<<\") are not supported, write the "
                                      "keys out",
                                      where));
        continue;
      }
      const std::string prefix =
          map.path.empty() ? fmt::format("unknown top-level key \"{}\"", name)
                           : fmt::format("{}: unknown key \"{}\"", map.path, name);
      error(key.Mark(), prefix + hint(name, schema.known));
      continue;
    }
    const auto dup = std::find_if(seen.begin(), seen.end(),
                                  [&](const auto& s) { return s.first == *canonical; });
    if (dup != seen.end()) {
      error(key.Mark(), fmt::format("{}duplicate key \"{}\", it is already set on line {}", where,
                                    name, pos(dup->second).line));
      continue;
    }
    seen.emplace_back(*canonical, key.Mark());
    on(*canonical, e);
  }
}

// A map of user-chosen names, e.g. the routers: calls on(name, key mark, value).
template <class F>
void Loader::each_named(const Entry& map, std::string_view expected, F&& on) {
  if (!map.node.IsDefined() || map.node.IsNull()) return;
  if (!map.node.IsMap()) {
    type_error(map, expected);
    return;
  }
  std::map<std::string, YAML::Mark> seen;
  for (const auto& kv : map.node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar() || key.Scalar().empty()) {
      error(key.Mark(), fmt::format("{}: a name must be a non-empty string, got {}", map.path,
                                    describe(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    if (auto it = seen.find(name); it != seen.end()) {
      error(key.Mark(), fmt::format("{}: \"{}\" is defined twice, first on line {}", map.path, name,
                                    pos(it->second).line));
      continue;
    }
    seen.emplace(name, key.Mark());
    on(name, key.Mark(),
       Entry{kv.second, join_path(map.path, name),
             kv.second.IsNull() ? key.Mark() : kv.second.Mark()});
  }
}

template <class F>
void Loader::each_item(const Entry& list, std::string_view expected, F&& on) {
  if (!list.node.IsDefined() || list.node.IsNull()) return;
  if (!list.node.IsSequence()) {
    type_error(list, expected);
    return;
  }
  std::size_t i = 0;
  for (const auto& item : list.node) {
    const YAML::Mark m = item.IsNull() || item.Mark().line < 0 ? list.mark : item.Mark();
    on(Entry{item, fmt::format("{}[{}]", list.path, i), m});
    ++i;
  }
}

// A section whose presence enables it: empty, a map, or true/false.
bool Loader::section_enabled(const Entry& e) {
  if (e.node.IsNull() || e.node.IsMap()) return true;
  if (e.node.IsScalar()) {
    const std::string v = lower(e.node.Scalar());
    if (v == "true" || v == "false") return v == "true";
  }
  type_error(e, "a map (or true/false)");
  return false;
}

// --- values ----------------------------------------------------------------------------------

bool Loader::read_string(const Entry& e, std::string& out, std::string_view expected) {
  if (!e.node.IsScalar()) {
    type_error(e, expected);
    return false;
  }
  out = e.node.Scalar();
  return true;
}

bool Loader::read_bool(const Entry& e, bool& out) {
  if (e.node.IsScalar()) {
    const std::string v = lower(e.node.Scalar());
    if (v == "true" || v == "yes" || v == "on") {
      out = true;
      return true;
    }
    if (v == "false" || v == "no" || v == "off") {
      out = false;
      return true;
    }
  }
  type_error(e, "true or false");
  return false;
}

bool Loader::read_int(const Entry& e, int& out, long long min, long long max) {
  long long v = 0;
  bool ok = e.node.IsScalar();
  if (ok) {
    const std::string& s = e.node.Scalar();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    ok = !s.empty() && ec == std::errc() && end == s.data() + s.size();
    if (ec == std::errc::result_out_of_range) {
      ok = true;
      v = s.starts_with('-') ? LLONG_MIN : LLONG_MAX;
    }
  }
  if (!ok) {
    type_error(e, "an integer");
    return false;
  }
  max = std::min<long long>(max, INT_MAX);
  min = std::max<long long>(min, INT_MIN);
  if (v < min || v > max) {
    const std::string range = max == INT_MAX && min > INT_MIN ? fmt::format("{} or more", min)
                                                              : fmt::format("{} to {}", min, max);
    error(e.mark, fmt::format("{}: {} is out of range, expected {}", e.path, e.node.Scalar(), range));
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool Loader::read_status(const Entry& e, int& out, bool allow_zero) {
  int v = 0;
  if (!read_int(e, v, INT_MIN, INT_MAX)) return false;
  if ((v < 100 || v > 599) && !(allow_zero && v == 0)) {
    error(e.mark, fmt::format("{}: {} is not an HTTP status, expected 100 to 599{}", e.path, v,
                              allow_zero ? " (or 0 for any 2xx/3xx)" : ""));
    return false;
  }
  out = v;
  return true;
}

bool Loader::read_duration(const Entry& e, Duration& out, bool allow_zero) {
  std::optional<Duration> d;
  if (e.node.IsScalar()) d = parse_duration(e.node.Scalar());
  if (!d) {
    error(e.mark, fmt::format("{}: invalid duration {}, expected a number with a unit such as "
                              "\"500ms\", \"2s\", \"5m\", \"1h\" or \"1m30s\" (a bare number is "
                              "seconds)",
                              e.path, describe(e.node)));
    return false;
  }
  if (!allow_zero && d->count() == 0) {
    error(e.mark, fmt::format("{}: the duration must be more than 0", e.path));
    return false;
  }
  out = *d;
  return true;
}

bool Loader::read_size(const Entry& e, std::size_t& out) {
  std::optional<std::size_t> n;
  if (e.node.IsScalar()) n = parse_size(e.node.Scalar());
  if (!n) {
    error(e.mark, fmt::format("{}: invalid size {}, expected a number of bytes, optionally with a "
                              "unit such as \"16KiB\", \"32MiB\" or \"1MB\"",
                              e.path, describe(e.node)));
    return false;
  }
  if (*n == 0) {
    error(e.mark, fmt::format("{}: the size must be more than 0", e.path));
    return false;
  }
  out = *n;
  return true;
}

bool Loader::read_url_path(const Entry& e, std::string& out) {
  std::string p;
  if (!read_string(e, p, "a path such as \"/health\"")) return false;
  if (!p.starts_with('/') || p.find_first_of(" \t") != std::string::npos) {
    error(e.mark, fmt::format("{}: invalid path \"{}\", expected a path starting with \"/\"", e.path, p));
    return false;
  }
  out = std::move(p);
  return true;
}

bool Loader::read_listen_address(const Entry& e, std::string& host, std::uint16_t& port) {
  std::string a;
  if (!read_string(e, a, "an address such as \":8080\"")) return false;
  if (auto why = parse_listen_address(a, host, port); !why.empty()) {
    error(e.mark, fmt::format("{}: invalid address \"{}\": {}, expected \"HOST:PORT\", \":PORT\" or "
                              "\"[IPv6]:PORT\"",
                              e.path, a, why));
    return false;
  }
  return true;
}

void Loader::read_string_list(const Entry& e, std::vector<std::string>& out) {
  each_item(e, "a list of strings such as [a, b]", [&](const Entry& item) {
    std::string s;
    if (read_string(item, s)) out.push_back(std::move(s));
  });
}

// --- sections --------------------------------------------------------------------------------

void Loader::load_root(const YAML::Node& root) {
  if (!root.IsMap()) {
    error(root.Mark(), fmt::format("expected a map of sections (entryPoints, http, ...) at the "
                                   "top level, got {}",
                                   describe(root)));
    return;
  }
  each_key(Entry{root, "", root.Mark()}, kTop, [&](std::string_view key, const Entry& e) {
    if (key == "log") {
      load_log(e);
    } else if (key == "ping") {
      load_ping(e);
    } else if (key == "admin") {
      load_admin(e);
    } else if (key == "accessLog") {
      load_access_log(e);
    } else if (key == "usage") {
      std::string u;
      if (!read_string(e, u, "inject or passthrough")) return;
      if (u == "inject" || u == "passthrough") {
        config_.usage = u;
      } else {
        error(e.mark, fmt::format("usage: unknown mode \"{}\"{}", u,
                                  hint(u, {"inject", "passthrough"})));
      }
    } else if (key == "shutdown") {
      load_shutdown(e);
    } else if (key == "entryPoints") {
      entry_points_key_ = e.mark;
      load_entry_points(e);
    } else if (key == "http") {
      load_http(e);
    } else if (key == "models") {
      load_models(e);
    }
  });
  if (config_.entryPoints.empty()) {
    constexpr std::string_view kFix =
        "no entry point is defined, add one, e.g. entryPoints: {web: {address: \":8080\"}}";
    if (entry_points_key_) {
      error(*entry_points_key_, fmt::format("entryPoints: {}", kFix));
    } else {
      report(Severity::error, {}, std::string(kFix));
    }
  }
}

void Loader::load_log(const Entry& e) {
  each_key(e, kLog, [&](std::string_view, const Entry& f) {
    std::string level;
    if (!read_string(f, level, "a log level")) return;
    std::string l = lower(level);
    if (l == "fatal" || l == "panic") l = "error";  // Traefik's levels above error
    if (l == "warning") l = "warn";
    static const std::vector<std::string_view> kLevels = {"trace", "debug", "info",
                                                          "warn",  "error", "off"};
    if (std::find(kLevels.begin(), kLevels.end(), l) == kLevels.end()) {
      error(f.mark, fmt::format("{}: unknown log level \"{}\"{}", f.path, level, hint(l, kLevels)));
      return;
    }
    config_.log.level = l;
  });
}

void Loader::load_ping(const Entry& e) {
  config_.ping.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kPing, [&](std::string_view key, const Entry& f) {
    if (key == "entryPoint") {
      if (read_string(f, config_.ping.entryPoint, "the name of an entry point")) {
        entry_point_refs_.push_back({config_.ping.entryPoint, f.path, f.mark});
      }
    } else if (key == "path") {
      read_url_path(f, config_.ping.path);
    }
  });
}

void Loader::load_admin(const Entry& e) {
  each_key(e, kAdmin, [&](std::string_view key, const Entry& f) {
    if (key == "address") {
      if (read_listen_address(f, config_.admin.host, config_.admin.port)) admin_address_ = f.mark;
    } else if (key == "token") {
      read_string(f, config_.admin.token);
    } else if (key == "enabled") {
      read_bool(f, config_.admin.enabled);
    }
  });
  const Admin& a = config_.admin;
  if (a.enabled && a.token.empty() && !is_loopback(a.host)) {
    warning(admin_address_.value_or(e.mark),
            fmt::format("admin: the admin API listens on \"{}\" without a token, anyone who can "
                        "reach it can change the balancer; set admin.token or listen on 127.0.0.1",
                        a.host.empty() ? "*" : a.host));
  }
}

void Loader::load_access_log(const Entry& e) {
  config_.accessLog.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kAccessLog, [&](std::string_view key, const Entry& f) {
    if (key == "path") {
      read_string(f, config_.accessLog.path, "a file path or \"stdout\"");
    } else if (key == "format") {
      std::string fmt_name;
      if (!read_string(f, fmt_name, "common or json")) return;
      if (fmt_name == "common" || fmt_name == "json") {
        config_.accessLog.format = fmt_name;
      } else {
        error(f.mark, fmt::format("{}: unknown format \"{}\"{}", f.path, fmt_name,
                                  hint(fmt_name, {"common", "json"})));
      }
    } else if (key == "fields") {
      if (f.node.IsMap()) {
        warning(f.mark, fmt::format("{}: Traefik's form of \"fields\" (a map) is not implemented by "
                                    "modelgate and is ignored, expected a list of field names",
                                    f.path));
        return;
      }
      read_string_list(f, config_.accessLog.fields);
    }
  });
}

void Loader::load_shutdown(const Entry& e) {
  each_key(e, kShutdown, [&](std::string_view, const Entry& f) {
    read_duration(f, config_.shutdown.drainTimeout, /*allow_zero=*/true);
  });
}

void Loader::load_entry_points(const Entry& e) {
  each_named(e, "a map of entry points such as {web: {address: \":8080\"}}",
             [&](const std::string& name, const YAML::Mark& key, const Entry& v) {
               load_entry_point(name, key, v);
             });
}

void Loader::load_entry_point(const std::string& name, const YAML::Mark& key, const Entry& e) {
  EntryPoint ep;
  ep.name = name;
  ep.pos = pos(key);
  bool has_address = false;
  each_key(e, kEntryPoint, [&](std::string_view k, const Entry& f) {
    if (k == "address") {
      has_address = true;
      if (read_listen_address(f, ep.host, ep.port)) {
        listeners_.push_back({fmt::format("entry point \"{}\"", name), f.path, f.node.Scalar(),
                              ep.host, ep.port, f.mark});
      }
    } else if (k == "timeouts") {
      each_key(f, kEntryPointTimeouts, [&](std::string_view t, const Entry& g) {
        read_duration(g, t == "readHeader" ? ep.timeouts.readHeader : ep.timeouts.idle, false);
      });
    } else if (k == "limits") {
      each_key(f, kLimits, [&](std::string_view l, const Entry& g) {
        if (l == "maxHeaderBytes") {
          read_size(g, ep.limits.maxHeaderBytes);
        } else if (l == "maxBodyBytes") {
          read_size(g, ep.limits.maxBodyBytes);
        } else if (l == "maxHeaders") {
          int n = 0;
          if (read_int(g, n, 1, kNoMax)) ep.limits.maxHeaders = static_cast<std::size_t>(n);
        }
      });
    } else if (k == "upstreamHeader") {
      read_bool(f, ep.upstreamHeader);
    }
  });
  if (!has_address && (e.node.IsNull() || e.node.IsMap())) {
    error(key, fmt::format("{}: missing \"address\", expected e.g. address: \":8080\"", e.path));
  }
  config_.entryPoints[name] = std::move(ep);
}

void Loader::load_http(const Entry& e) {
  each_key(e, kHttp, [&](std::string_view key, const Entry& f) {
    if (key == "routers") {
      each_named(f, "a map of routers such as {NAME: {rule: ..., service: ...}}",
                 [&](const std::string& name, const YAML::Mark& k, const Entry& v) {
                   load_router(name, k, v);
                 });
    } else {
      each_named(f, "a map of services such as {NAME: {loadBalancer: {servers: [...]}}}",
                 [&](const std::string& name, const YAML::Mark& k, const Entry& v) {
                   load_service(name, k, v);
                 });
    }
  });
}

void Loader::load_router(const std::string& name, const YAML::Mark& key, const Entry& e) {
  Router r;
  r.name = name;
  r.pos = pos(key);
  bool has_rule = false;
  bool has_service = false;
  each_key(e, kRouter, [&](std::string_view k, const Entry& f) {
    if (k == "rule") {
      has_rule = true;
      if (read_string(f, r.rule, "a rule such as \"PathPrefix(`/v1`)\"")) check_rule(f, r);
    } else if (k == "service") {
      has_service = true;
      if (read_string(f, r.service, "the name of a service")) {
        if (r.service.ends_with("@file")) r.service.resize(r.service.size() - 5);  // Traefik's provider
        service_refs_.push_back({name, {r.service, f.path, f.mark}});
      }
    } else if (k == "priority") {
      int p = 0;
      if (read_int(f, p, INT_MIN, INT_MAX)) r.priority = p;
    } else if (k == "entryPoints") {
      each_item(f, "a list of entry point names such as [web]", [&](const Entry& item) {
        std::string ep;
        if (!read_string(item, ep, "the name of an entry point")) return;
        entry_point_refs_.push_back({ep, item.path, item.mark});
        r.entryPoints.push_back(std::move(ep));
      });
    } else if (k == "upstreamHeader") {
      read_bool(f, r.upstreamHeader);
    }
  });
  if (e.node.IsNull() || e.node.IsMap()) {
    if (!has_rule) {
      error(key, fmt::format("{}: missing \"rule\", expected e.g. rule: \"PathPrefix(`/v1`)\"",
                             e.path));
    }
    if (!has_service) {
      error(key, fmt::format("{}: missing \"service\", expected the name of a service defined under "
                             "http.services",
                             e.path));
    }
  }
  config_.routers[name] = std::move(r);
}

void Loader::check_rule(const Entry& e, Router& r) {
  r.rulePos = rule_char_pos(e.node, 0);
  auto parsed = routing::parse_rule(r.rule);
  if (const auto* err = std::get_if<routing::RuleError>(&parsed)) {
    report(Severity::error, rule_char_pos(e.node, err->offset),
           fmt::format("{}: {}", e.path, err->message));
  }
}

void Loader::load_service(const std::string& name, const YAML::Mark& key, const Entry& e) {
  Service svc;
  svc.name = name;
  svc.pos = pos(key);
  bool has_load_balancer = false;
  bool unsupported = false;
  each_key(e, kService, [&](std::string_view k, const Entry& f) {
    if (k == "loadBalancer") {
      has_load_balancer = true;
      load_load_balancer(f, svc.loadBalancer);
    } else {
      unsupported = true;
      error(f.mark, fmt::format("{}: Traefik service type \"{}\" is not supported by modelgate, use "
                                "loadBalancer",
                                f.path, k));
    }
  });
  if (!has_load_balancer && !unsupported && (e.node.IsNull() || e.node.IsMap())) {
    error(key, fmt::format("{}: missing \"loadBalancer\", expected e.g. loadBalancer: {{servers: "
                           "[{{url: \"http://10.0.0.3:8080\"}}]}}",
                           e.path));
  }
  config_.services[name] = std::move(svc);
}

void Loader::load_load_balancer(const Entry& e, LoadBalancer& lb) {
  std::optional<Entry> servers;
  std::optional<Entry> hash_key;
  each_key(e, kLoadBalancer, [&](std::string_view k, const Entry& f) {
    if (k == "servers") {
      servers = f;
      load_servers(f, lb);
    } else if (k == "passHostHeader") {
      read_bool(f, lb.passHostHeader);
    } else if (k == "strategy") {
      std::string s;
      if (!read_string(f, s, "a strategy name")) return;
      if (s == "wrr") s = "weighted_round_robin";  // Traefik's name
      if (std::find(kStrategies.begin(), kStrategies.end(), s) == kStrategies.end()) {
        error(f.mark, fmt::format("{}: unknown strategy \"{}\"{}", f.path, s, hint(s, kStrategies)));
        return;
      }
      lb.strategy = s;
    } else if (k == "hashKey") {
      std::string h;
      if (!read_string(f, h, "client_ip, header:NAME, cookie:NAME or body:FIELD")) return;
      if (!valid_hash_key(h)) {
        error(f.mark, fmt::format("{}: invalid hashKey \"{}\", expected client_ip, header:NAME, "
                                  "cookie:NAME or body:FIELD",
                                  f.path, h));
        return;
      }
      lb.hashKey = h;
      hash_key = f;
    } else if (k == "healthCheck") {
      load_health_check(f, lb.healthCheck);
    } else if (k == "passiveHealth") {
      load_passive_health(f, lb.passiveHealth);
    } else if (k == "retry") {
      load_retry(f, lb.retry);
    } else if (k == "timeouts") {
      load_upstream_timeouts(f, lb.timeouts);
    } else if (k == "discoverModels") {
      load_discover_models(f, lb.discoverModels);
    }
  });
  if (!e.node.IsNull() && !e.node.IsMap()) return;  // already reported
  constexpr std::string_view kExample = "servers: [{url: \"http://10.0.0.3:8080\"}]";
  if (!servers) {
    error(e.mark, fmt::format("{}: missing \"servers\", expected at least one server, e.g. {}",
                              e.path, kExample));
  } else if (servers->node.IsNull() || (servers->node.IsSequence() && servers->node.size() == 0)) {
    error(servers->mark, fmt::format("{}: no server is listed, expected at least one, e.g. {}",
                                     servers->path, kExample));
  } else if (!lb.servers.empty() &&
             std::all_of(lb.servers.begin(), lb.servers.end(),
                         [](const Server& s) { return s.weight == 0; })) {
    warning(servers->mark, fmt::format("{}: every server has weight 0, so none will ever be picked",
                                       servers->path));
  }
  if (hash_key && lb.strategy != "consistent_hash" && lb.strategy != "ip_hash") {
    warning(hash_key->mark, fmt::format("{}: hashKey is only used by the consistent_hash strategy, "
                                        "this service uses {}",
                                        hash_key->path, lb.strategy));
  }
}

void Loader::load_servers(const Entry& e, LoadBalancer& lb) {
  std::map<std::string, int> seen;  // normalised address -> line
  each_item(e, "a list of servers such as [{url: \"http://10.0.0.3:8080\"}]", [&](const Entry& item) {
    if (!item.node.IsMap()) {
      type_error(item, "a server such as {url: \"http://10.0.0.3:8080\"}");
      return;
    }
    Server s;
    s.pos = pos(item.mark);
    bool has_url = false;
    each_key(item, kServer, [&](std::string_view k, const Entry& f) {
      if (k == "url") {
        has_url = true;
        std::string url;
        if (!read_string(f, url, "a URL such as \"http://10.0.0.3:8080\"")) return;
        if (lower(url).starts_with("https://")) {
          error(f.mark, fmt::format("{}: https upstreams are not supported yet, use http://", f.path));
          return;
        }
        if (auto why = parse_server_url(url, s); !why.empty()) {
          error(f.mark, fmt::format("{}: invalid server URL \"{}\": {}, expected "
                                    "\"http://HOST[:PORT][/PATH]\"",
                                    f.path, url, why));
          return;
        }
        const std::string id = fmt::format("{}:{}{}", lower(s.host), s.port, s.basePath);
        if (auto it = seen.find(id); it != seen.end()) {
          error(f.mark, fmt::format("{}: duplicate server \"{}\", the same server is already listed "
                                    "on line {}",
                                    f.path, url, it->second));
          return;
        }
        seen.emplace(id, pos(f.mark).line);
      } else if (k == "weight") {
        read_int(f, s.weight, 0, kNoMax);
      } else if (k == "backup") {
        read_bool(f, s.backup);
      } else if (k == "maxConnections") {
        read_int(f, s.maxConnections, 0, kNoMax);
      } else if (k == "drain") {
        read_bool(f, s.drain);
      }
    });
    if (!has_url) {
      error(item.mark, fmt::format("{}: missing \"url\", expected e.g. url: \"http://10.0.0.3:8080\"",
                                   item.path));
    }
    lb.servers.push_back(std::move(s));
  });
}

void Loader::load_health_check(const Entry& e, HealthCheck& hc) {
  hc.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kHealthCheck, [&](std::string_view k, const Entry& f) {
    if (k == "path") {
      read_url_path(f, hc.path);
    } else if (k == "interval") {
      read_duration(f, hc.interval, false);
    } else if (k == "timeout") {
      read_duration(f, hc.timeout, false);
    } else if (k == "expectStatus") {
      read_status(f, hc.expectStatus, /*allow_zero=*/true);
    } else if (k == "rise") {
      read_int(f, hc.rise, 1, kNoMax);
    } else if (k == "fall") {
      read_int(f, hc.fall, 1, kNoMax);
    }
  });
}

void Loader::load_passive_health(const Entry& e, PassiveHealth& ph) {
  each_key(e, kPassiveHealth, [&](std::string_view k, const Entry& f) {
    if (k == "consecutiveFailures") {
      read_int(f, ph.consecutiveFailures, 1, kNoMax);
    } else if (k == "baseEjection") {
      read_duration(f, ph.baseEjection, false);
    } else if (k == "maxEjectionPercent") {
      read_int(f, ph.maxEjectionPercent, 0, 100);
    }
  });
}

void Loader::load_retry(const Entry& e, Retry& r) {
  each_key(e, kRetry, [&](std::string_view k, const Entry& f) {
    if (k == "attempts") {
      read_int(f, r.attempts, 1, kNoMax);
    } else if (k == "budgetPercent") {
      read_int(f, r.budgetPercent, 0, 100);
    } else if (k == "retryOn") {
      std::vector<int> codes;
      each_item(f, "a list of HTTP statuses such as [502, 503]", [&](const Entry& item) {
        int code = 0;
        if (read_status(item, code, /*allow_zero=*/false)) codes.push_back(code);
      });
      r.retryOn = std::move(codes);
    }
  });
}

void Loader::load_upstream_timeouts(const Entry& e, UpstreamTimeouts& t) {
  each_key(e, kUpstreamTimeouts, [&](std::string_view k, const Entry& f) {
    if (k == "connect") {
      read_duration(f, t.connect, false);
    } else if (k == "responseHeader") {
      read_duration(f, t.responseHeader, false);
    } else if (k == "streamIdle") {
      read_duration(f, t.streamIdle, false);
    } else if (k == "total") {
      read_duration(f, t.total, /*allow_zero=*/true);
    }
  });
}

void Loader::load_discover_models(const Entry& e, DiscoverModels& d) {
  d.enabled = section_enabled(e);
  if (!e.node.IsMap()) return;
  each_key(e, kDiscoverModels, [&](std::string_view k, const Entry& f) {
    if (k == "interval") {
      read_duration(f, d.interval, false);
    } else if (k == "path") {
      read_url_path(f, d.path);
    }
  });
}

void Loader::load_models(const Entry& e) {
  each_named(e, "a map of model aliases such as {gpt-4o-mini: {target: NAME}}",
             [&](const std::string& name, const YAML::Mark& key, const Entry& v) {
               ModelAlias a;
               a.name = name;
               a.pos = pos(key);
               bool problem = false;
               each_key(v, kModel, [&](std::string_view k, const Entry& f) {
                 if (k == "target") {
                   if (!read_string(f, a.target, "a model name")) {
                     problem = true;
                   } else if (a.target.empty()) {
                     problem = true;
                     error(f.mark, fmt::format("{}: the target is empty, expected a model name",
                                               f.path));
                   }
                 } else {
                   const std::size_t before = diagnostics_.size();
                   read_string_list(f, a.fallbacks);
                   problem = problem || diagnostics_.size() != before;
                 }
               });
               if (!v.node.IsNull() && !v.node.IsMap()) return;  // reported
               if (!problem && a.target.empty() && a.fallbacks.empty()) {
                 error(key, fmt::format("{}: neither \"target\" nor \"fallbacks\" is set, expected "
                                        "at least one, e.g. {{target: Qwen2.5-0.5B-Instruct}}",
                                        v.path));
               }
               config_.models[name] = std::move(a);
             });
}

// --- after the walk --------------------------------------------------------------------------

void Loader::check_references() {
  std::vector<std::string_view> services;
  for (const auto& [name, _] : config_.services) services.push_back(name);
  for (const auto& [router, ref] : service_refs_) {
    if (config_.services.count(ref.name)) continue;
    std::string expected = hint(ref.name, services, "one of the services");
    if (services.empty()) expected = ", and no service is defined under http.services";
    error(ref.mark, fmt::format("{}: unknown service \"{}\"{}", ref.path, ref.name, expected));
  }
  if (config_.entryPoints.empty()) return;  // reported once already
  std::vector<std::string_view> entry_points;
  for (const auto& [name, _] : config_.entryPoints) entry_points.push_back(name);
  for (const auto& ref : entry_point_refs_) {
    if (config_.entryPoints.count(ref.name)) continue;
    error(ref.mark, fmt::format("{}: unknown entry point \"{}\"{}", ref.path, ref.name,
                                hint(ref.name, entry_points, "one of the entry points")));
  }
}

// Two listeners on one port cannot both bind (a wildcard address takes the port on every address).
void Loader::check_listeners() {
  if (config_.admin.enabled) {
    listeners_.push_back({"the admin API", "admin.address",
                          fmt::format("{}:{}", config_.admin.host, config_.admin.port),
                          config_.admin.host, config_.admin.port, admin_address_});
  }
  for (std::size_t j = 1; j < listeners_.size(); ++j) {
    for (std::size_t i = 0; i < j; ++i) {
      const Listener& a = listeners_[i];
      const Listener& b = listeners_[j];
      if (a.port == 0 || a.port != b.port) continue;
      if (!iequal(a.host, b.host) && !is_wildcard(a.host) && !is_wildcard(b.host)) continue;
      const Listener& at = b.mark ? b : a;
      const Listener& other = b.mark ? a : b;
      const std::string where =
          other.mark ? fmt::format(" (line {})", pos(*other.mark).line) : std::string(" (default)");
      error(*at.mark, fmt::format("{}: address \"{}\" is already used by {}{}, use another port",
                                  at.path, at.text, other.what, where));
      break;
    }
  }
}

LoadResult Loader::finish() {
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  LoadResult result;
  result.diagnostics = std::move(diagnostics_);
  if (!has_errors(result.diagnostics)) result.config = std::move(config_);
  return result;
}

LoadResult Loader::run() {
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(text_));
  } catch (const YAML::Exception& e) {
    report(Severity::error, pos_at(e.mark.line, e.mark.column),
           fmt::format("invalid YAML: {}", e.msg));
    return finish();
  }
  if (documents.empty() || documents[0].IsNull()) {
    report(Severity::error, {},
           "the file is empty, expected at least entryPoints and http.routers/http.services");
    return finish();
  }
  if (documents.size() > 1) {
    error(documents[1].Mark(), "a second YAML document starts here, expected a single document "
                               "(remove the \"---\" separator)");
  }
  try {
    load_root(documents[0]);
    check_references();
    check_listeners();
  } catch (const YAML::Exception& e) {  // not expected: every access is type-checked first
    report(Severity::error, pos_at(e.mark.line, e.mark.column),
           fmt::format("cannot read this value: {}", e.msg));
  }
  return finish();
}

}  // namespace

LoadResult load_text(std::string_view yaml, const std::string& name) {
  return Loader(yaml, name).run();
}

LoadResult load_file(const std::string& path) {
  auto cannot_read = [&](int err) {
    LoadResult r;
    r.diagnostics.push_back(Diagnostic{
        Severity::error, path, 0, 0,
        fmt::format("cannot read: {}, check the path given to --config", std::strerror(err))});
    return r;
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return cannot_read(errno);
  std::string text;
  char buffer[64 * 1024];
  std::size_t n = 0;
  errno = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) text.append(buffer, n);
  if (std::ferror(f.get())) return cannot_read(errno != 0 ? errno : EIO);
  return load_text(text, path);
}

// Go's time.ParseDuration restricted to ms, s, m and h (a config has no use for finer units),
// plus Traefik's bare integer meaning seconds. Fractions are allowed ("1.5s"); the result is
// rounded down to the millisecond.
std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr std::uint64_t kMaxWhole = 1'000'000'000'000ull;  // keeps every product in range
  constexpr std::uint64_t kMaxMs = 1ull << 62;
  if (is_digits(text)) {
    std::uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || seconds > kMaxWhole) return std::nullopt;
    return Duration(static_cast<Duration::rep>(seconds * 1000));
  }
  std::uint64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint64_t whole = 0;
    std::uint64_t frac = 0;
    std::uint64_t frac_scale = 1;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
      if (whole > kMaxWhole) return std::nullopt;
      ++i;
      ++digits;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (frac_scale < 1'000'000'000ull) {
          frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
          frac_scale *= 10;
        }
        ++i;
        ++digits;
      }
    }
    if (digits == 0) return std::nullopt;
    std::uint64_t unit = 0;
    const std::string_view rest = text.substr(i);
    if (rest.starts_with("ms")) {
      unit = 1;
      i += 2;
    } else if (rest.starts_with("s")) {
      unit = 1000;
      ++i;
    } else if (rest.starts_with("m")) {
      unit = 60 * 1000;
      ++i;
    } else if (rest.starts_with("h")) {
      unit = 3600 * 1000;
      ++i;
    } else {
      return std::nullopt;
    }
    total += whole * unit + frac * unit / frac_scale;
    if (total > kMaxMs) return std::nullopt;
  }
  return Duration(static_cast<Duration::rep>(total));
}

}  // namespace modelgate::config
