// The http.middlewares section in Traefik's shape: one named middleware of one kind each, attached
// to routers by name (`routers.<r>.middlewares: [a, b]`), run in that order (docs/middlewares.md).
//
// One flat struct rather than a variant per kind: a middleware is read once per load and compiled
// once per snapshot (runtime/middleware.h), so size does not matter and the loader fills the
// fields of its kind only. Everything that can be checked is checked by the loader: CIDRs parsed,
// the regexp compiled, htpasswd lines split, the forwardAuth address split into host, port, path.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "routing/ip_net.h"

namespace modelgate::config {

// Traefik's kinds that modelgate implements; `chain` is flattened when a router is compiled.
enum class MiddlewareKind : std::uint8_t {
  headers, stripPrefix, addPrefix, replacePath, replacePathRegex, ipAllowList, basicAuth,
  forwardAuth, rateLimit, inFlightReq, redirectScheme, chain,
};

// Which address a request comes from (Traefik's ipStrategy): the peer's, or one taken from
// X-Forwarded-For, `depth` entries from its right end, or the rightmost not in `excludedIPs`.
struct IpStrategy {
  int depth = 0;                          // 0: the connection's peer address
  std::vector<routing::IpNet> excludedIPs;
};

// How requests are grouped for rateLimit and inFlightReq (Traefik's sourceCriterion; without one,
// rateLimit groups by address and inFlightReq by Host, as Traefik does).
struct SourceCriterion {
  enum class By : std::uint8_t { ip, header, host } by = By::ip;
  IpStrategy ipStrategy;
  std::string requestHeaderName;  // by == header
};

struct HtpasswdUser {
  std::string name;
  std::string hash;  // $2y$ (bcrypt), $apr1$, $1$ (MD5-crypt), {SHA}
};

struct Middleware {
  std::string name;
  MiddlewareKind kind = MiddlewareKind::headers;
  int line = 0;  // where it is defined, for messages
  // The definition as written (its YAML re-emitted): equal across reloads while unchanged, so the
  // state of a rateLimit or inFlightReq (runtime/middleware_state.h) is kept.
  std::string definition;

  // headers: an empty value removes the field (Traefik's rule).
  std::vector<std::pair<std::string, std::string>> requestHeaders, responseHeaders;
  // stripPrefix
  std::vector<std::string> prefixes;
  // addPrefix, replacePath (the new path)
  std::string path;
  // replacePathRegex: the pattern, compiled with its captures, and the replacement in ECMAScript
  // form ($1; Go's ${1} is rewritten to it).
  std::shared_ptr<const std::regex> regex;
  std::string replacement;
  // ipAllowList
  std::vector<routing::IpNet> sourceRange;
  IpStrategy ipStrategy;
  int rejectStatusCode = 403;
  // basicAuth
  std::vector<HtpasswdUser> users;
  std::string realm = "traefik";
  bool removeHeader = false;
  std::string headerField;  // the field that carries the authenticated user to the server
  // forwardAuth
  std::string address;  // as written
  std::string authHost, authPath;
  std::uint16_t authPort = 80;
  bool trustForwardHeader = false;
  std::vector<std::string> authResponseHeaders, authRequestHeaders;
  // rateLimit (Traefik: average requests per period, burst at once; average 0 = no limit)
  std::int64_t average = 0;
  std::int64_t burst = 1;
  std::chrono::milliseconds period{1000};
  // inFlightReq
  std::int64_t amount = 0;
  SourceCriterion sourceCriterion;  // rateLimit, inFlightReq
  // redirectScheme
  std::string scheme;
  std::string port;  // "" keeps none (the default port of the scheme)
  bool permanent = false;
  // chain
  std::vector<std::string> chain;
};

}  // namespace modelgate::config
