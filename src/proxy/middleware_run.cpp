// A router's middlewares on the request path (runtime/middleware.h): each step in order, an
// answer instead of forwarding when one refuses, and forwardAuth's round trip to the auth service.
//
// forwardAuth follows Traefik (pkg/middlewares/auth/forward.go): the service gets a GET with the
// client's header fields (all of them, or only authRequestHeaders) and X-Forwarded-Method, -Proto,
// -Host, -Uri and -For describing the request; unless trustForwardHeader, X-Forwarded-* sent by the
// client are replaced. A 2xx lets the request through, with the authResponseHeaders fields of the
// answer copied into it (a field the client sent under such a name is removed first, so it cannot
// be forged); any other answer goes to the client as the service gave it. A service that cannot
// be reached is a 500, as in Traefik. One fresh connection per check (http1::http_request).
#include <fmt/format.h>

#include "http1/probe.h"
#include "proxy/session_impl.h"

namespace modelgate::proxy {

namespace {

constexpr auto kAuthTimeout = std::chrono::seconds(30);  // Traefik's forwardAuth client timeout
constexpr auto kReplyTimeout = std::chrono::seconds(30);

bool hop_by_hop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
                             "proxy-connection", "proxy-authenticate", "proxy-authorization", "content-length"}) {
    if (beast::iequals(name, h)) return true;
  }
  return false;
}

bool listed(const std::vector<std::string>& names, std::string_view name) {
  for (const auto& n : names) {
    if (beast::iequals(n, name)) return true;
  }
  return false;
}

}  // namespace

net::Task<bool> Session::run_middlewares(const runtime::MiddlewareChain& chain, bool& keep_alive) {
  auto& x = *x_;
  x.edits.reset();
  runtime::MiddlewareReply reply;
  const runtime::MiddlewareRequest request{
      x.req, x.view.path, x.view.query, original_host_, client_ip_,
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count(),
      client_.is_tls()};
  for (const auto& step : chain.steps) {
    runtime::StepResult result = runtime::run_step(step, request, x.edits, reply);
    if (result == runtime::StepResult::ask_auth && co_await ask_auth(*step.spec, reply)) continue;
    if (result == runtime::StepResult::next) continue;
    keep_alive = co_await reply_middleware(reply, keep_alive);
    co_return false;
  }
  x.edits.finish(x.view.query);
  co_return true;
}

net::Task<bool> Session::ask_auth(const config::Middleware& m, runtime::MiddlewareReply& reply) {
  auto& x = *x_;
  std::string head = fmt::format("GET {} HTTP/1.1\r\nHost: {}:{}\r\n", m.authPath, m.authHost, m.authPort);
  std::string_view prior_xff;
  for (const auto& f : x.req.headers()) {
    if (hop_by_hop(f.name) || beast::iequals(f.name, "host")) continue;
    const bool forwarded = f.name.size() > 12 && beast::iequals(f.name.substr(0, 12), "x-forwarded-");
    if (forwarded) {
      if (m.trustForwardHeader && beast::iequals(f.name, "x-forwarded-for")) prior_xff = f.value;
      if (!m.trustForwardHeader || beast::iequals(f.name, "x-forwarded-for")) continue;
    }
    if (!m.authRequestHeaders.empty() && !listed(m.authRequestHeaders, f.name)) continue;
    fmt::format_to(std::back_inserter(head), "{}: {}\r\n", f.name, f.value);
  }
  const auto has = [&](std::string_view name) { return m.trustForwardHeader && !x.req.get(name).empty(); };
  if (!has("x-forwarded-method")) fmt::format_to(std::back_inserter(head), "X-Forwarded-Method: {}\r\n", x.req.method);
  if (!has("x-forwarded-proto")) head += client_.is_tls() ? "X-Forwarded-Proto: https\r\n" : "X-Forwarded-Proto: http\r\n";
  if (!has("x-forwarded-host")) fmt::format_to(std::back_inserter(head), "X-Forwarded-Host: {}\r\n", original_host_);
  if (!has("x-forwarded-uri")) fmt::format_to(std::back_inserter(head), "X-Forwarded-Uri: {}\r\n", x.req.target);
  fmt::format_to(std::back_inserter(head), "X-Forwarded-For: {}{}{}\r\nConnection: close\r\n\r\n", prior_xff,
                 prior_xff.empty() ? "" : ", ", client_ip_text_);

  // Named first: a temporary with a destructor inside a co_await expression is not safe in g++ 12.
  const asio::any_io_executor ex(client_.get_executor());
  auto call = http1::http_request(ex, m.authHost, m.authPort, std::move(head), kAuthTimeout);
  auto [failure, answer] = co_await asio::co_spawn(ex, std::move(call), net::try_task);
  if (failure || !answer.ok()) {
    reply.status = 500;
    reply.code = "auth_service_unavailable";
    reply.message = fmt::format("the auth service of middleware {} ({}) could not be asked: {}", m.name, m.address,
                                failure ? "internal error" : answer.error);
    reply.head_lines.clear();
    co_return false;
  }
  if (answer.status >= 200 && answer.status < 300) {
    for (const auto& name : m.authResponseHeaders) {
      std::string value;
      for (const auto& [n, v] : answer.headers) {
        if (!beast::iequals(n, name)) continue;
        if (!value.empty()) value += ", ";
        value += v;
      }
      x.edits.request.set(name, value);  // empty: removes what the client sent under that name
    }
    co_return true;
  }
  reply.status = answer.status;
  reply.code = {};
  reply.message = std::move(answer.body);
  reply.head_lines.clear();
  for (const auto& [n, v] : answer.headers) {
    if (hop_by_hop(n)) continue;
    fmt::format_to(std::back_inserter(reply.head_lines), "{}: {}\r\n", n, v);
  }
  co_return false;
}

// The answer of a step that refused (or redirected) the request: an error in the OpenAI shape, or
// (forwardAuth, redirects) the body as given. The response fields of the headers middlewares that
// ran before are applied, as Traefik's wrapped writer does.
net::Task<bool> Session::reply_middleware(const runtime::MiddlewareReply& r, bool keep_alive) {
  auto& x = *x_;
  x.record.status = r.status;
  if (!request_read()) {  // as reply_error: the unread body ends the connection, lingering
    keep_alive = false;
    state_ = State::lingering;
  }
  const std::string body = r.code.empty() ? r.message : error_json(ErrorReply{r.status, r.code, r.message});
  x.head = fmt::format("HTTP/1.1 {} {}\r\n", r.status, http1::reason_phrase(r.status));
  x.head += r.head_lines;
  x.edits.response.append_to(x.head);
  if (!r.code.empty()) x.head += "Content-Type: application/json\r\n";
  fmt::format_to(std::back_inserter(x.head), "Content-Length: {}\r\n{}\r\n", body.size(),
                 http1::connection_field(keep_alive, x.req.version < 11));
  x.head += body;
  const bool written = co_await write_client(x.head, kReplyTimeout);
  co_return written && keep_alive;
}

}  // namespace modelgate::proxy
