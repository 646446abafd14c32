// The settings of each middleware kind modelgate implements, with Traefik's names and defaults
// (https://doc.traefik.io/traefik/middlewares/http/overview/). Traefik options of a kind that
// modelgate does not implement are warned about and ignored, except those that restrict access
// (headers.allowedHosts), which are refused like the kinds that do.
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/values.h"
#include "routing/regexp.h"

namespace modelgate::config::detail {

namespace {

const Schema kHeaders{
    {"customRequestHeaders", "customResponseHeaders", "allowedHosts"},
    {"accessControlAllowCredentials", "accessControlAllowHeaders", "accessControlAllowMethods",
     "accessControlAllowOriginList", "accessControlAllowOriginListRegex", "accessControlExposeHeaders",
     "accessControlMaxAge", "addVaryHeader", "hostsProxyHeaders", "sslProxyHeaders", "stsSeconds",
     "stsIncludeSubdomains", "stsPreload", "forceSTSHeader", "frameDeny", "customFrameOptionsValue",
     "contentTypeNosniff", "browserXssFilter", "customBrowserXSSValue", "contentSecurityPolicy",
     "contentSecurityPolicyReportOnly", "publicKey", "referrerPolicy", "permissionsPolicy",
     "featurePolicy", "isDevelopment", "sslRedirect", "sslTemporaryRedirect", "sslHost",
     "sslForceHost"}};
const Schema kStripPrefix{{"prefixes"}, {"forceSlash"}};
const Schema kAddPrefix{{"prefix"}};
const Schema kReplacePath{{"path"}};
const Schema kReplacePathRegex{{"regex", "replacement"}};
const Schema kIpAllowList{{"sourceRange", "ipStrategy", "rejectStatusCode"}};
const Schema kIpStrategy{{"depth", "excludedIPs"}, {"ipv6Subnet"}};
const Schema kBasicAuth{{"users", "usersFile", "realm", "removeHeader", "headerField"}};
const Schema kForwardAuth{{"address", "trustForwardHeader", "authResponseHeaders", "authRequestHeaders"},
                          {"tls", "authResponseHeadersRegex", "addAuthCookiesToResponse", "forwardBody",
                           "maxBodySize", "preserveLocationHeader", "preserveRequestMethod", "headerField"}};
const Schema kRateLimit{{"average", "period", "burst", "sourceCriterion"}};
const Schema kInFlightReq{{"amount", "sourceCriterion"}};
const Schema kSourceCriterion{{"ipStrategy", "requestHeaderName", "requestHost"}};
const Schema kRedirectScheme{{"scheme", "port", "permanent"}};
const Schema kChain{{"middlewares"}};

// RFC 9110 §5.1: a field name is a token.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// Fields the gateway writes itself, from how it frames the message and the connection.
bool is_framing(std::string_view name) {
  for (std::string_view f : {"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "TE", "Trailer",
                             "Upgrade", "Host"}) {
    if (iequal(f, name)) return true;
  }
  return false;
}

// Go's ${1} and $1 mean the same; std::regex_replace knows $1 only.
std::string ecmascript_replacement(std::string_view go) {
  std::string out;
  for (std::size_t i = 0; i < go.size(); ++i) {
    if (go[i] == '$' && i + 1 < go.size() && go[i + 1] == '{') {
      const auto close = go.find('}', i);
      if (close != std::string_view::npos) {
        out += '$';
        out.append(go.substr(i + 2, close - i - 2));
        i = close;
        continue;
      }
    }
    out += go[i];
  }
  return out;
}

}  // namespace

bool ConfigReader::load_middleware_kind(std::string_view kind, const Entry& f, Middleware& m) {
  using K = MiddlewareKind;
  const auto header_map = [&](const Entry& map, auto& out) {
    each_named(map, "a map of header names to values such as {X-Team: a}",
               [&](const std::string& name, const YAML::Mark& key, const Entry& v) {
                 std::string value;
                 if (!is_token(name)) {
                   error(key, fmt::format("{}: \"{}\" is not a header name (letters, digits, - and _)", v.path, name));
                   return;
                 }
                 if (is_framing(name)) {
                   error(key, fmt::format("{}: \"{}\" is a framing or hop-by-hop field, which the gateway "
                                          "writes itself; remove it",
                                          v.path, name));
                   return;
                 }
                 if (v.node.IsNull() || read_string(v, value, "a header value (empty removes the header)"))
                   out.emplace_back(name, std::move(value));
               });
  };
  if (kind == "headers") {
    m.kind = K::headers;
    each_key(f, kHeaders, [&](std::string_view k, const Entry& e) {
      if (k == "customRequestHeaders") header_map(e, m.requestHeaders);
      else if (k == "customResponseHeaders") header_map(e, m.responseHeaders);
      else error(e.mark, fmt::format("{}: allowedHosts is not implemented by modelgate, and it restricts "
                                     "access, so the file is refused; use a Host() rule on the router instead",
                                     e.path));
    });
  } else if (kind == "stripPrefix") {
    m.kind = K::stripPrefix;
    each_key(f, kStripPrefix, [&](std::string_view, const Entry& e) {
      each_item(e, "a list of path prefixes such as [/api]", [&](const Entry& item) {
        std::string p;
        if (read_url_path(item, p)) m.prefixes.push_back(std::move(p));
      });
    });
  } else if (kind == "addPrefix" || kind == "replacePath") {
    m.kind = kind == "addPrefix" ? K::addPrefix : K::replacePath;
    each_key(f, kind == "addPrefix" ? kAddPrefix : kReplacePath,
             [&](std::string_view, const Entry& e) { read_url_path(e, m.path); });
    if (m.path.empty()) error(f.mark, fmt::format("{}: missing \"{}\", expected a path such as /v1", f.path,
                                                  kind == "addPrefix" ? "prefix" : "path"));
  } else if (kind == "replacePathRegex") {
    m.kind = K::replacePathRegex;
    bool has_regex = false;
    each_key(f, kReplacePathRegex, [&](std::string_view k, const Entry& e) {
      std::string text;
      if (!read_string(e, text, k == "regex" ? "a regular expression" : "a replacement such as /v1/$1")) return;
      if (k == "replacement") {
        m.replacement = ecmascript_replacement(text);
        return;
      }
      has_regex = true;
      std::string why;
      if (text.size() > routing::kMaxRegexChars) why = "longer than 4096 characters";
      auto re = why.empty() ? routing::compile_regex(text, why, true) : std::nullopt;
      if (!re) {
        report(Severity::error, scalar_char_pos(e.node, 0),
               fmt::format("{}: invalid regexp ({}), expected ECMAScript syntax", e.path, why));
        return;
      }
      m.regex = std::make_shared<const std::regex>(std::move(*re));
    });
    if (!has_regex) error(f.mark, fmt::format("{}: missing \"regex\", expected e.g. regex: \"^/api/(.*)\"", f.path));
  } else if (kind == "ipAllowList") {
    m.kind = K::ipAllowList;
    const std::size_t errors_before = diagnostic_count();
    each_key(f, kIpAllowList, [&](std::string_view k, const Entry& e) {
      if (k == "sourceRange") read_nets(e, m.sourceRange);
      else if (k == "ipStrategy") load_ip_strategy(e, m.ipStrategy);
      else read_status(e, m.rejectStatusCode, false);
    });
    if (m.sourceRange.empty() && diagnostic_count() == errors_before)  // not after a bad entry
      error(f.mark, fmt::format("{}: \"sourceRange\" is empty, expected the addresses allowed, such as "
                                "[10.0.0.0/8, \"::1\"]",
                                f.path));
  } else if (kind == "basicAuth") {
    m.kind = K::basicAuth;
    each_key(f, kBasicAuth, [&](std::string_view k, const Entry& e) {
      if (k == "users") {
        each_item(e, "a list of htpasswd lines such as [\"alice:$2y$05$...\"]", [&](const Entry& item) {
          std::string line;
          if (read_string(item, line, "an htpasswd line such as \"alice:$2y$05$...\""))
            read_htpasswd_line(line, item.path, scalar_char_pos(item.node, 0), m.users);
        });
      } else if (k == "usersFile") {
        std::string path;
        if (read_string(e, path, "the path of an htpasswd file")) read_htpasswd_file(path, e, m.users);
      } else if (k == "realm") {
        read_string(e, m.realm);
      } else if (k == "removeHeader") {
        read_bool(e, m.removeHeader);
      } else if (read_string(e, m.headerField, "a header name such as X-WebAuth-User") &&
                 !is_token(m.headerField)) {
        error(e.mark, fmt::format("{}: \"{}\" is not a header name", e.path, m.headerField));
      }
    });
    if (m.users.empty())
      error(f.mark, fmt::format("{}: no user, expected users: [\"name:hash\"] or usersFile (make "
                                "entries with `htpasswd -nB name`)",
                                f.path));
  } else if (kind == "forwardAuth") {
    m.kind = K::forwardAuth;
    each_key(f, kForwardAuth, [&](std::string_view k, const Entry& e) {
      if (k == "address") {
        if (!read_string(e, m.address, "the URL of the auth service such as http://127.0.0.1:4181/auth")) return;
        Server s;
        std::string why = parse_server_url(m.address, s);
        if (why.empty() && m.address.starts_with("https:")) why = "https is not supported for forwardAuth";
        if (!why.empty()) {
          error(e.mark, fmt::format("{}: {}", e.path, why));
          return;
        }
        m.authHost = s.host;
        m.authPort = s.port;
        m.authPath = s.basePath.empty() ? "/" : s.basePath;
      } else if (k == "trustForwardHeader") {
        read_bool(e, m.trustForwardHeader);
      } else {
        read_string_list(e, k == "authResponseHeaders" ? m.authResponseHeaders : m.authRequestHeaders);
      }
    });
    if (m.address.empty()) error(f.mark, fmt::format("{}: missing \"address\", expected the URL of the auth service", f.path));
  } else if (kind == "rateLimit" || kind == "inFlightReq") {
    m.kind = kind == "rateLimit" ? K::rateLimit : K::inFlightReq;
    // Traefik's defaults without a sourceCriterion: the peer's address for rateLimit, the Host
    // for inFlightReq.
    if (m.kind == K::inFlightReq) m.sourceCriterion.by = SourceCriterion::By::host;
    each_key(f, kind == "rateLimit" ? kRateLimit : kInFlightReq, [&](std::string_view k, const Entry& e) {
      int n = 0;
      if (k == "sourceCriterion") load_source_criterion(e, m.sourceCriterion);
      else if (k == "period") read_duration(e, m.period, false);
      else if (read_int(e, n, k == "average" ? 0 : 1, kNoMax)) (k == "average" ? m.average : k == "burst" ? m.burst : m.amount) = n;
    });
    if (m.kind == K::inFlightReq && m.amount == 0)
      error(f.mark, fmt::format("{}: missing \"amount\", expected the most requests at once such as 10", f.path));
  } else if (kind == "redirectScheme") {
    m.kind = K::redirectScheme;
    each_key(f, kRedirectScheme, [&](std::string_view k, const Entry& e) {
      if (k == "scheme") {
        if (read_string(e, m.scheme, "http or https") && m.scheme != "http" && m.scheme != "https") {
          error(e.mark, fmt::format("{}: unknown scheme \"{}\", expected http or https", e.path, m.scheme));
        }
      } else if (k == "port") {
        int port = 0;
        if (read_int(e, port, 1, 65535)) m.port = std::to_string(port);
      } else {
        read_bool(e, m.permanent);
      }
    });
    if (m.scheme.empty()) error(f.mark, fmt::format("{}: missing \"scheme\", expected https or http", f.path));
  } else {
    m.kind = K::chain;
    each_key(f, kChain, [&](std::string_view, const Entry& e) { read_middleware_names(e, m.chain); });
  }
  return true;
}

void ConfigReader::read_nets(const Entry& e, std::vector<routing::IpNet>& out) {
  each_item(e, "a list of addresses or CIDRs such as [10.0.0.0/8, \"::1\"]", [&](const Entry& item) {
    std::string text, why;
    if (!read_string(item, text, "an address or CIDR such as 10.0.0.0/8")) return;
    auto net = routing::parse_net(text, why);
    if (!net) {
      error(item.mark, fmt::format("{}: invalid address \"{}\", {}", item.path, text, why));
      return;
    }
    out.push_back(*net);
  });
}

void ConfigReader::load_ip_strategy(const Entry& e, IpStrategy& s) {
  each_key(e, kIpStrategy, [&](std::string_view k, const Entry& f) {
    if (k == "depth") read_int(f, s.depth, 0, 64);
    else read_nets(f, s.excludedIPs);
  });
}

void ConfigReader::load_source_criterion(const Entry& e, SourceCriterion& c) {
  int set = 0;
  each_key(e, kSourceCriterion, [&](std::string_view k, const Entry& f) {
    ++set;
    if (k == "ipStrategy") {
      c.by = SourceCriterion::By::ip;
      load_ip_strategy(f, c.ipStrategy);
    } else if (k == "requestHeaderName") {
      c.by = SourceCriterion::By::header;
      read_string(f, c.requestHeaderName, "a header name such as X-Api-Key");
    } else {
      bool host = false;
      if (read_bool(f, host) && host) c.by = SourceCriterion::By::host;
      if (!host) --set;
    }
  });
  if (set > 1) error(e.mark, fmt::format("{}: expected one of ipStrategy, requestHeaderName or requestHost", e.path));
}

// "name:hash"; the hash formats Traefik accepts that modelgate can check.
void ConfigReader::read_htpasswd_line(std::string_view line, const std::string& where, SourcePos at,
                                      std::vector<HtpasswdUser>& out) {
  const auto colon = line.find(':');
  const std::string_view hash = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  const bool known = hash.starts_with("$2y$") || hash.starts_with("$2a$") || hash.starts_with("$2b$") ||
                     hash.starts_with("$apr1$") || hash.starts_with("$1$") || hash.starts_with("{SHA}");
  if (colon == 0 || colon == std::string_view::npos || !known) {
    report(Severity::error, at,
           fmt::format("{}: expected \"name:hash\" with a bcrypt ($2y$), apr1 ($apr1$) or SHA1 ({{SHA}}) "
                       "hash, as `htpasswd -nB name` makes it",
                       where));
    return;
  }
  out.push_back({std::string(line.substr(0, colon)), std::string(hash)});
}

void ConfigReader::read_htpasswd_file(const std::string& path, const Entry& e, std::vector<HtpasswdUser>& out) {
  std::ifstream in(path);
  if (!in) {
    error(e.mark, fmt::format("{}: cannot read \"{}\", check the path (an htpasswd file)", e.path, path));
    return;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.front() == '#') continue;
    read_htpasswd_line(line, fmt::format("{} ({}:{})", e.path, path, n), pos(e.mark), out);
  }
}

}  // namespace modelgate::config::detail
