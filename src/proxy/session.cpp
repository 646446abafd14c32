// The codec loop of a client connection: read a request head, apply RFC 9112 framing rules
// strictly, have it routed (route_decision.h), answer or forward it, and go on with the next one
// on a keep-alive connection (pipelined bytes stay in the input buffer for it).
//
// Framing is where request smuggling lives, so ambiguity is refused rather than guessed at:
// Content-Length with Transfer-Encoding, an invalid or repeated differing Content-Length, or a
// Transfer-Encoding whose last coding is not chunked all get 400 and the connection closed
// (RFC 9112 §6.1, §6.3).
#include "proxy/session.h"
#include "proxy/client_ip.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "observability/access_log.h"
#include "observability/metrics.h"
#include "runtime/catalogue.h"
#include "proxy/key_check.h"
#include "proxy/route_decision.h"
#include "proxy/session_impl.h"
#include "proxy/session.h"

namespace modelgate::proxy {

namespace {

std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

constexpr std::size_t kInitialInput = 2048;  // an idle connection's input buffer
constexpr std::size_t kReadSize = 4096;       // at least this much room for each read of a head
constexpr auto kReplyTimeout = std::chrono::seconds(30);
constexpr auto kLingerTime = std::chrono::seconds(2);  // nginx lingering_time is 30 s; a client
constexpr std::size_t kLingerBytes = 1024 * 1024;      // that reads its answer needs far less

struct RequestCount {
  explicit RequestCount(std::atomic<int>& c) : c_(c) { c_.fetch_add(1, std::memory_order_relaxed); }
  ~RequestCount() { c_.fetch_sub(1, std::memory_order_relaxed); }
  std::atomic<int>& c_;
};

}  // namespace

void Session::begin_record() {
  started_ = std::chrono::steady_clock::now();
  const auto& req = x_->req;
  auto& record = x_->record;
  record.time = std::chrono::system_clock::now();
  record.client = client_ip_text_;
  record.method = req.method;
  record.path = req.target;
  record.status = 0;
  record.bytes_in = record.bytes_out = 0;
  record.upstream.clear();
  record.router.clear();
  record.key.clear();
  record.service.clear();
  record.model.clear();
  record.stream = false;
  record.ttfb.reset();
  record.ttft.reset();
  record.prompt_tokens.reset();
  record.completion_tokens.reset();
  record.attempts = 0;
  record.worker = worker_.index();
}

void Session::finish_record() {
  auto& record = x_->record;
  record.duration = std::chrono::steady_clock::now() - started_;
  if (worker_.metrics) worker_.metrics->shard(worker_.index()).record(record);
  if (worker_.access_log) worker_.access_log->log(record);
}

net::Task<void> run_session(net::Socket socket, Worker& worker, const std::string& entry_point) {
  Session session(std::move(socket), worker, entry_point);
  co_await session.run();
}

Session::Session(net::Socket socket, Worker& worker, const std::string& entry_point)
    : client_(std::move(socket)),
      worker_(worker),
      entry_point_(entry_point),
      deadline_(worker.deadlines(), &Session::on_deadline, this),
      watch_due_(worker.deadlines(), &Session::on_watch_due, this),
      in_(kInitialInput) {
  boost::system::error_code ec;
  auto remote = client_.socket().remote_endpoint(ec);
  if (!ec) {
    const auto addr = unmapped(remote.address());
    client_ip_ = to_ip(addr);
    client_ip_text_ = addr.to_string();
  }
}

void Session::on_deadline(void* self) {
  auto& s = *static_cast<Session*>(self);
  boost::system::error_code ignored;
  s.client_.cancel(ignored);
  if (s.upstream_) s.upstream_->socket.cancel(ignored);
}

// An entry point with http.tls: the handshake (certificate chosen by SNI, net/tls.h) before the
// first request, within timeouts.readHeader; false when it failed and the connection closes.
net::Task<bool> Session::accept_tls(std::chrono::milliseconds timeout) {
  const auto& tls = worker_.server_tls();
  if (!tls) co_return false;
  auto& stream = client_.use_tls(tls->context(), tls);
  deadline_.after(timeout);
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, net::try_op);
  deadline_.clear();
  if (ec) spdlog::debug("{}: TLS handshake with {} failed: {}", entry_point_, client_ip_text_, ec.message());
  co_return !ec;
}

net::Task<void> Session::run() {
  bool handshake_ok = true;  // a plain connection awaits nothing here (no coroutine frame)
  if (const auto* ep = worker_.routes()->snapshot->entry_point(entry_point_); ep && ep->spec.tls) {
    handshake_ok = co_await accept_tls(ep->spec.timeouts.readHeader);
  }
  for (; handshake_ok;) {
    if (in_.empty()) {
      // Wait for the next request: the idle timeout applies until its first byte arrives.
      const runtime::EntryPointRuntime* ep = worker_.routes()->snapshot->entry_point(entry_point_);
      if (!ep) break;  // the entry point was removed by a reload
      state_ = State::idle;
      deadline_.after(ep->spec.timeouts.idle);
      auto room = in_.prepare(kReadSize / 2);
      auto [ec, n] = co_await client_.async_read_some(asio::buffer(room.data(), room.size()), net::try_op);
      if (ec) break;
      in_.commit(n);
    }
    x_ = worker_.take_exchange();
    const bool keep_alive = co_await serve_one();
    co_await watch_.stop(client_);
    if (keep_alive) end_request_bytes();
    worker_.give_back(std::move(x_));
    if (!keep_alive || worker_.gateway_draining()) break;
  }
  deadline_.clear();
  boost::system::error_code ec;
  client_.socket().shutdown(net::Socket::shutdown_send, ec);
  if (state_ == State::lingering) co_await linger();
  client_.close(ec);
}

// nginx's lingering_close. Closing a socket with unread bytes makes the kernel send a reset: the
// client's next write fails, and a client still sending its request then gives up without reading
// the answer (some stacks also drop an answer not yet read). So after an answer sent before the request was read whole (400, 413, 431, ...), what the
// client still sends is read and dropped, for at most kLingerTime and kLingerBytes, until it
// closes its side.
net::Task<void> Session::linger() {
  deadline_.after(kLingerTime);
  in_.consume(in_.size());
  for (std::size_t drained = 0; drained < kLingerBytes;) {
    auto room = in_.prepare(kReadSize);
    auto [ec, n] = co_await client_.async_read_some(asio::buffer(room.data(), room.size()), net::try_op);
    if (ec) break;
    drained += n;
  }
  deadline_.clear();
}

net::Task<bool> Session::write_client(std::string_view bytes, std::chrono::milliseconds timeout) {
  deadline_.after(timeout);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(bytes), net::try_op);
  co_return !ec;
}

net::Task<bool> Session::reply_error(bool keep_alive) {
  const ErrorReply& e = x_->error;
  x_->record.status = e.status;
  // A request whose body was not read cannot be followed by another on this connection, and
  // the client may still be sending it: the connection closes lingering.
  if (!request_read()) {
    keep_alive = false;
    if (state_ != State::lingering) {
      state_ = e.status == 408 ? State::closing : State::lingering;  // a stalled client sends nothing more
    }
  }
  x_->head = render_error(e, keep_alive, x_->req.version < 11, x_->extra_head);
  const bool written = co_await write_client(x_->head, kReplyTimeout);
  co_return written && keep_alive;
}

net::Task<bool> Session::reply_body(int status, std::string_view content_type, std::string_view body,
                               bool keep_alive) {
  x_->record.status = status;
  keep_alive = keep_alive && request_read();
  x_->head = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}{}\r\n{}", status,
                         http1::reason_phrase(status), content_type, body.size(), x_->extra_head,
                         http1::connection_field(keep_alive, x_->req.version < 11), body);
  const bool written = co_await write_client(x_->head, kReplyTimeout);
  co_return written && keep_alive;
}

net::Task<bool> Session::serve_one() {
  // The request is served by the config current when it arrived, to its end (a reload while the
  // connection sat idle applies to it).
  auto routes = worker_.routes();
  const runtime::EntryPointRuntime* ep = routes->snapshot->entry_point(entry_point_);
  if (!ep) co_return false;
  const auto& limits = ep->spec.limits;
  const auto& timeouts = ep->spec.timeouts;
  auto& x = *x_;
  auto& req = x.req;
  state_ = State::reading_head;
  body_fault_ = BodyRead::ok;
  x.extra_head.clear();
  x.body.clear();  // the state is lent from request to request: a body kept for retries stays behind
  x.caller = {};
  body_timeout_ = timeouts.readBody;
  max_body_bytes_ = limits.maxBodyBytes;
  body_bytes_ = BodyBytes::in_input;
  set_upstream(nullptr);

  // The head: parsed where it landed; read on until it is complete, each parse going on where the
  // last one stopped.
  deadline_.after(timeouts.readHeader);
  const http1::Limits head_limits{limits.maxHeaderBytes, limits.maxHeaders};
  for (bool more = false;; more = true) {
    const auto status = more ? http1::resume_request(in_.data(), req, head_limits)
                             : http1::parse_request(in_.data(), req, head_limits);
    if (status == http1::Status::complete) break;
    if (status == http1::Status::too_large) {
      const bool count = req.field_count >= std::min(limits.maxHeaders, http1::kMaxFields);
      x_->error = ErrorReply{
          431, "request_header_fields_too_large",
          count ? fmt::format("request has more than {} header fields (entryPoints.{}.limits.maxHeaders)",
                              limits.maxHeaders, entry_point_)
                : fmt::format("request header is larger than {} bytes (entryPoints.{}.limits.maxHeaderBytes)",
                              limits.maxHeaderBytes, entry_point_)};
      co_return co_await reply_error(false);
    }
    if (status == http1::Status::bad) {
      x_->error = ErrorReply{400, "bad_request", fmt::format("malformed request: {}", req.error)};
      co_return co_await reply_error(false);
    }
    auto room = in_.prepare(kReadSize);
    auto [ec, n] = co_await client_.async_read_some(asio::buffer(room.data(), room.size()), net::try_op);
    if (ec) {
      if (deadline_.expired()) {
        x_->error = ErrorReply{408, "request_timeout", "the request header was not received in time"};
        co_return co_await reply_error(false);
      }
      co_return false;  // the client went away
    }
    in_.commit(n);
  }
  if (req.body == http1::Body::chunked && !beast::iequals(req.get("transfer-encoding"), "chunked")) {
    // The body would go on without its other codings (the upstream hop is re-framed).
    x_->error = ErrorReply{501, "not_implemented",
                       "only the chunked transfer coding is supported on requests; send the body with "
                       "Content-Length or Transfer-Encoding: chunked alone"};
    co_return co_await reply_error(false);
  }
  body_pos_ = req.head_size;
  state_ = req.body == http1::Body::none ? State::request_read : State::head_read;
  if (req.version >= 11 && req.host_count != 1) {
    x_->error = ErrorReply{400, "bad_request", "an HTTP/1.1 request needs exactly one Host header"};
    co_return co_await reply_error(false);
  }

  RequestCount counted(worker_.active_requests);
  begin_record();
  struct RecordOnExit {
    Session& session;
    ~RecordOnExit() { session.finish_record(); }
  } record_on_exit{*this};

  original_host_ = req.host;
  const std::string_view target = req.target;
  const auto qmark = target.find('?');
  routing::RequestView& view = x.view;
  view = routing::RequestView{};
  view.method = req.method;
  view.host = strip_port(req.host);
  view.path = target.substr(0, qmark);
  view.query = qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
  view.headers = req.headers();
  view.client_ip = client_ip_;
  co_return co_await serve_routed(*routes, *ep);
}

net::Task<bool> Session::serve_routed(WorkerRoutes& routes, const runtime::EntryPointRuntime& ep) {
  auto& x = *x_;
  const runtime::Snapshot& snap = *routes.snapshot;
  bool keep_alive = x.req.keep_alive;
  RouteQuery query{snap, ep, entry_point_, x.view};
  RouteDecision decision = decide_route(query);
  if (snap.keys && decision.kind != RouteDecision::ping) {
    if (!authenticate(*snap.keys, x.req, x.caller, x.error)) co_return co_await reply_error(keep_alive);
    x.record.key = x.caller.name;
    query.key = x.caller.key;
    if (decision.kind == RouteDecision::model_list) {
      decision = decide_route(query);  // the key's models only
      append_standing(x.caller, x.extra_head);
    }
  }
  while (decision.kind == RouteDecision::need_body) {
    if (!co_await read_routing_body(snap, ep, keep_alive, query.model_field, query.form)) co_return keep_alive;
    query.body_empty = x.body.empty();
    query.first_route = decision.next_route;
    decision = decide_route(query);
  }
  switch (decision.kind) {
    case RouteDecision::ping:
      co_return co_await reply_body(200, "text/plain; charset=utf-8", "OK", keep_alive);
    case RouteDecision::model_list:
      co_return co_await reply_body(200, "application/json", decision.body, keep_alive);
    case RouteDecision::refuse:
      x.error = std::move(decision.error);
      co_return co_await reply_error(keep_alive);
    case RouteDecision::need_body:
    case RouteDecision::forward:
      break;
  }
  const runtime::Route& route = *decision.route;
  x.record.router = route.name;
  x.record.service = snap.services[route.service].name;
  struct GiveBack {  // the in-flight counters of inFlightReq middlewares, when the request is over
    runtime::RequestEdits& edits;
    ~GiveBack() { edits.release(); }
  } give_back{x.edits};
  if (route.middlewares && !co_await run_middlewares(*route.middlewares, keep_alive)) co_return keep_alive;
  if (x.caller) co_return co_await forward_keyed(snap, ep, route, routes, keep_alive, query);
  const bool body_read = x.view.model_state != routing::ModelState::not_read;
  if (x.view.model_state == routing::ModelState::present) x.record.model = x.model;
  co_return co_await forward(ep, route, routes, body_read);
}

// With an API key: the model it names must be one of the key's (the body is read for it when
// routing did not), and the key's limits must admit the request; its usage settles them after.
net::Task<bool> Session::forward_keyed(const runtime::Snapshot& snap, const runtime::EntryPointRuntime& ep,
                                       const runtime::Route& route, WorkerRoutes& routes, bool keep_alive,
                                       RouteQuery& query) {
  auto& x = *x_;
  if (!x.caller.key->models.empty() && x.view.model_state == routing::ModelState::not_read &&
      x.req.body != http1::Body::none) {
    if (!co_await read_routing_body(snap, ep, keep_alive, query.model_field, query.form)) co_return keep_alive;
  }
  const bool body_read = x.view.model_state != routing::ModelState::not_read;
  if (x.view.model_state == routing::ModelState::present) {
    x.record.model = x.model;
    if (!allow_model(x.caller, x.requested_model, x.error)) {
      append_standing(x.caller, x.extra_head);
      co_return co_await reply_error(keep_alive);
    }
  }
  const std::uint64_t body_bytes = body_read ? x.body.size() : x.req.body == http1::Body::length ? x.req.content_length : 0;
  const auto lease_until = std::chrono::steady_clock::now() + kLeaseWait;
  KeyVerdict verdict;
  while ((verdict = admit(x.caller, body_bytes, x.admission, x.extra_head, x.error,
                          std::chrono::steady_clock::now() >= lease_until)) == KeyVerdict::wait) {
    co_await wait_for_lease(x.caller, x.admission, lease_until);
  }
  if (verdict == KeyVerdict::refused) co_return co_await reply_error(keep_alive);
  struct Settle {
    ExchangeState& x;
    ~Settle() { finish(x.caller, x.admission, x.record.prompt_tokens, x.record.completion_tokens); }
  } settle{x};
  co_return co_await forward(ep, route, routes, body_read);
}

net::Task<bool> Session::read_routing_body(const runtime::Snapshot& snap, const runtime::EntryPointRuntime& ep,
                                           bool& keep_alive, ModelField& field, bool& form) {
  auto& x = *x_;
  const std::size_t limit = ep.spec.limits.maxBodyBytes;
  const BodyRead got = body_arrived(limit) ? BodyRead::ok : co_await read_whole_body(limit);
  if (got != BodyRead::ok) {
    keep_alive = co_await refuse_body(got);
    co_return false;
  }
  const std::string_view boundary = http1::form_boundary(x.req.get("content-type"));
  const BodyModel found = read_body_model(snap, x.body, boundary, x.model, x.requested_model, x.error);
  if (found.refused) {
    keep_alive = co_await reply_error(keep_alive);
    co_return false;
  }
  field = found.field;
  form = !boundary.empty();
  x.view.model_state =
      found.field == ModelField::present ? routing::ModelState::present : routing::ModelState::absent;
  x.view.model = x.model;
  co_return true;
}

}  // namespace modelgate::proxy
