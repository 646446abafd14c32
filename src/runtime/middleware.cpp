// The steps of the middlewares that answer or rewrite without leaving the worker, after Traefik's
// (pkg/middlewares/...: stripprefix, addprefix, replacepath, replacepathregex, ipallowlist, auth,
// ratelimiter, inflightreq, redirect, headers), and the compiling of a router's list into steps.
#include "runtime/middleware.h"

#include <fmt/format.h>

#include <cmath>
#include <functional>
#include <regex>

#include "runtime/htpasswd.h"
#include "text/hash.h"

namespace modelgate::runtime {

namespace {

using K = config::MiddlewareKind;

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 4648 base64 (with or without padding); false on anything else.
bool base64_decode(std::string_view in, std::string& out) {
  out.clear();
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') break;
    else return false;
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out += static_cast<char>((bits >> count) & 0xff);
    }
  }
  return true;
}

void set_path(RequestEdits& edits, std::string_view path) {
  if (path.empty() || path.front() != '/') {
    std::string p = "/";
    p.append(path);
    edits.path = std::move(p);
  } else if (path.data() != edits.path.data()) {
    edits.path.assign(path);
  }
  edits.path_set = true;
}

std::uint64_t source_key(const config::SourceCriterion& c, const MiddlewareRequest& req) {
  switch (c.by) {
    case config::SourceCriterion::By::header:
      return text::hash_bytes(req.head.get(c.requestHeaderName), 1);
    case config::SourceCriterion::By::host:
      return text::hash_bytes(req.host, 2);
    case config::SourceCriterion::By::ip:
      break;
  }
  routing::IpAddress ip;
  if (!source_address(c.ipStrategy, req, ip)) return text::hash_bytes({}, 3);
  return text::hash_bytes(std::string_view(reinterpret_cast<const char*>(ip.bytes.data()), ip.bytes.size()), 3);
}

StepResult too_many(MiddlewareReply& reply, std::string message, std::int64_t wait_ns) {
  reply.status = 429;
  reply.code = "rate_limit_exceeded";
  reply.message = std::move(message);
  reply.head_lines.clear();
  if (wait_ns > 0) {
    const auto seconds = static_cast<long long>(std::ceil(static_cast<double>(wait_ns) / 1e9));
    reply.head_lines = fmt::format("Retry-After: {}\r\nX-Retry-In: {}ms\r\n", seconds,
                                   static_cast<long long>(std::ceil(static_cast<double>(wait_ns) / 1e6)));
  }
  return StepResult::reply;
}

StepResult basic_auth(const config::Middleware& m, const MiddlewareRequest& req, RequestEdits& edits,
                      MiddlewareReply& reply) {
  std::string_view auth = trim(req.head.get("authorization"));
  std::string decoded;
  if (auth.size() > 6 && iequals_ascii(auth.substr(0, 6), "basic ") && base64_decode(trim(auth.substr(6)), decoded)) {
    const auto colon = decoded.find(':');
    if (colon != std::string::npos) {
      const std::string_view name(decoded.data(), colon);
      const std::string_view password = std::string_view(decoded).substr(colon + 1);
      for (const auto& user : m.users) {
        if (user.name != name || !htpasswd_matches(user.hash, password)) continue;
        edits.user.assign(name);
        if (m.removeHeader) edits.request.remove("Authorization");
        if (!m.headerField.empty()) edits.request.set(m.headerField, name);
        return StepResult::next;
      }
    }
  }
  reply.status = 401;
  reply.code = "unauthorized";
  reply.message = "authentication required: send a user and password (HTTP Basic)";
  reply.head_lines = fmt::format("WWW-Authenticate: Basic realm=\"{}\"\r\n", m.realm);
  return StepResult::reply;
}

StepResult redirect_scheme(const config::Middleware& m, const MiddlewareRequest& req, MiddlewareReply& reply) {
  std::string_view host = req.host;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const auto close = host.find(']');
    if (close != std::string_view::npos) {
      if (close + 1 < host.size() && host[close + 1] == ':') port = host.substr(close + 2);
      host = host.substr(0, close + 1);
    }
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  // A request is already where it should be when it came by the scheme asked for, on the port
  // asked for (the scheme's default when the Host names none).
  const std::string_view scheme = req.tls ? "https" : "http";
  if (m.scheme == scheme && (m.port.empty() || m.port == (port.empty() ? (req.tls ? "443" : "80") : port))) {
    return StepResult::next;
  }
  const bool default_port = m.port.empty() || (m.scheme == "https" && m.port == "443") ||
                            (m.scheme == "http" && m.port == "80");
  const bool safe = req.head.method == "GET" || req.head.method == "HEAD";
  reply.status = m.permanent ? (safe ? 301 : 308) : (safe ? 302 : 307);
  reply.code = {};
  reply.message.clear();
  reply.head_lines = fmt::format("Location: {}://{}{}{}{}\r\n", m.scheme, host, default_port ? "" : ":",
                                 default_port ? "" : m.port, req.head.target);
  return StepResult::reply;
}

}  // namespace

bool source_address(const config::IpStrategy& strategy, const MiddlewareRequest& req, routing::IpAddress& out) {
  if (strategy.depth == 0 && strategy.excludedIPs.empty()) {
    out = req.peer;
    return true;
  }
  // X-Forwarded-For entries from the right end (the nearest proxy first), over every field of it.
  int from_right = 0;
  const auto fields = req.head.headers();
  for (auto f = fields.rbegin(); f != fields.rend(); ++f) {
    if (!iequals_ascii(f->name, "x-forwarded-for")) continue;
    std::string_view list = f->value;
    while (!list.empty()) {
      const auto comma = list.rfind(',');
      const std::string_view item = trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
      ++from_right;
      const auto ip = routing::IpAddress::parse(item);
      if (strategy.depth > 0) {
        if (from_right < strategy.depth) continue;
        if (!ip) return false;
        out = *ip;
        return true;
      }
      if (!ip) return false;
      const bool excluded = std::any_of(strategy.excludedIPs.begin(), strategy.excludedIPs.end(),
                                        [&](const routing::IpNet& n) { return routing::in_net(n, *ip); });
      if (!excluded) {
        out = *ip;
        return true;
      }
    }
  }
  return false;  // fewer entries than `depth`, or every one excluded
}

void RequestEdits::reset() {
  path_set = false;
  request.clear();
  response.clear();
  user.clear();
}

void RequestEdits::release() {
  for (auto* held : in_flight) InFlightLimiter::leave(held);
  in_flight.clear();
}

std::string_view RequestEdits::finish(std::string_view query) {
  if (!path_set) return {};
  target.assign(path);
  if (!query.empty()) {
    target += '?';
    target.append(query);
  }
  return target;
}

StepResult run_step(const MiddlewareStep& step, const MiddlewareRequest& req, RequestEdits& edits,
                    MiddlewareReply& reply) {
  const config::Middleware& m = *step.spec;
  const std::string_view path = edits.path_set ? std::string_view(edits.path) : req.path;
  switch (m.kind) {
    case K::headers:
      for (const auto& [name, value] : m.requestHeaders) edits.request.set(name, value);
      for (const auto& [name, value] : m.responseHeaders) edits.response.set(name, value);
      return StepResult::next;
    case K::stripPrefix:
      for (const auto& prefix : m.prefixes) {
        if (!path.starts_with(prefix)) continue;
        edits.request.set("X-Forwarded-Prefix", prefix);
        set_path(edits, std::string(path.substr(prefix.size())));
        break;
      }
      return StepResult::next;
    case K::addPrefix:
      set_path(edits, m.path + std::string(path));
      return StepResult::next;
    case K::replacePath:
      edits.request.set("X-Replaced-Path", path);
      set_path(edits, m.path);
      return StepResult::next;
    case K::replacePathRegex:
      if (std::regex_search(path.begin(), path.end(), *m.regex)) {
        std::string replaced = std::regex_replace(std::string(path), *m.regex, m.replacement);
        edits.request.set("X-Replaced-Path", path);
        set_path(edits, replaced);
      }
      return StepResult::next;
    case K::ipAllowList: {
      routing::IpAddress ip;
      if (source_address(m.ipStrategy, req, ip) &&
          std::any_of(m.sourceRange.begin(), m.sourceRange.end(),
                      [&](const routing::IpNet& n) { return routing::in_net(n, ip); })) {
        return StepResult::next;
      }
      reply.status = m.rejectStatusCode;
      reply.code = "forbidden";
      reply.message = "the client address is not allowed here";
      reply.head_lines.clear();
      return StepResult::reply;
    }
    case K::basicAuth:
      return basic_auth(m, req, edits, reply);
    case K::forwardAuth:
      return StepResult::ask_auth;
    case K::rateLimit:
      if (step.state && step.state->rate) {
        if (const auto wait = step.state->rate->admit(source_key(m.sourceCriterion, req), req.now_ns)) {
          return too_many(reply, fmt::format("too many requests: over {} per {} ms (middleware {}), retry later",
                                             m.average, m.period.count(), m.name),
                          wait);
        }
      }
      return StepResult::next;
    case K::inFlightReq: {
      auto* held = step.state->in_flight->enter(source_key(m.sourceCriterion, req));
      if (!held) {
        return too_many(reply, fmt::format("too many requests at once: {} in flight (middleware {}), retry later",
                                           m.amount, m.name),
                        0);
      }
      edits.in_flight.push_back(held);
      return StepResult::next;
    }
    case K::redirectScheme:
      return redirect_scheme(m, req, reply);
    case K::chain:
      return StepResult::next;  // flattened when compiled
  }
  return StepResult::next;
}

std::shared_ptr<const MiddlewareChain> compile_middlewares(const std::string& router,
                                                           const std::vector<std::string>& names,
                                                           const std::map<std::string, config::Middleware>& defs,
                                                           MiddlewareStates& states) {
  auto chain = std::make_shared<MiddlewareChain>();
  std::function<void(const std::vector<std::string>&, int)> add = [&](const std::vector<std::string>& list, int depth) {
    if (depth > 32) return;  // the loader refuses cycles; this only bounds a Config built by hand
    for (const auto& name : list) {
      const auto it = defs.find(name);
      if (it == defs.end()) continue;
      const config::Middleware& m = it->second;
      if (m.kind == K::chain) {
        add(m.chain, depth + 1);
        continue;
      }
      MiddlewareStep step{std::make_shared<const config::Middleware>(m), nullptr};
      if (m.kind == K::rateLimit && m.average > 0) {
        step.state = states.get(router + '/' + name, m.definition, [&] {
          MiddlewareState s;
          s.rate = std::make_unique<RateLimiter>(
              m.average, std::chrono::duration_cast<std::chrono::nanoseconds>(m.period).count(), m.burst);
          return s;
        });
      } else if (m.kind == K::inFlightReq) {
        step.state = states.get(router + '/' + name, m.definition, [&] {
          MiddlewareState s;
          s.in_flight = std::make_unique<InFlightLimiter>(m.amount);
          return s;
        });
      }
      chain->edits_response = chain->edits_response || !m.responseHeaders.empty();
      chain->steps.push_back(std::move(step));
    }
  };
  add(names, 0);
  if (chain->steps.empty()) return nullptr;
  return chain;
}

}  // namespace modelgate::runtime
