// One try of a request on one server: a connection (pooled or fresh), the request sent (its body
// from memory or streamed from the client as it arrives), and the answer's head awaited; the
// answer itself goes back through relay.cpp. How the try ended (answered, refused, retryable,
// final) is for forward.cpp to act on.
//
// While the server works the session is at_server: a tick after the request went out the hang-up
// watch starts (hangup_watch.h), so a client that leaves closes the upstream connection at once.
#include <fmt/format.h>

#include <array>

#include "http1/gather.h"
#include "proxy/session_impl.h"
#include "runtime/outlier_detection.h"

namespace modelgate::proxy {

namespace {

using boost::system::error_code;

bool is_connection_lost(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
}

}  // namespace

// For connect_failed and retryable: why, in the exchange state (a coroutine frame stays small).
Session::Attempt Session::failed(int kind, std::string why) {
  x_->attempt_error = std::move(why);
  return Attempt{static_cast<Attempt::Kind>(kind), false};
}

void Session::set_upstream(UpstreamConnection* conn) {
  upstream_ = conn;
  watch_.set_upstream(conn ? &conn->socket : nullptr);
}

void Session::on_watch_due(void* self) {
  auto& s = *static_cast<Session*>(self);
  if (s.state_ != State::at_server) return;
  // The watch reads where the next request's bytes belong: behind the body in body_in once the
  // body continued there, else in the input buffer's free tail.
  const bool into_body_in = s.body_bytes_ == BodyBytes::in_body_buffer;
  s.watch_.start(s.client_, into_body_in ? s.x_->body_in : s.in_, into_body_in);
}

net::Task<error_code> Session::connect(UpstreamConnection& conn, balancing::ServerState& server) {
  const auto& spec = server.spec;
  error_code ec;
  auto address = asio::ip::make_address(spec.host, ec);
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = tcp::endpoint(address, spec.port);
  } else {
    asio::ip::basic_resolver<tcp, net::Executor> resolver(client_.get_executor());
    const std::string service = std::to_string(spec.port);
    auto [rec, results] = co_await resolver.async_resolve(spec.host, service, net::try_task);
    if (rec || results.empty()) co_return rec ? rec : asio::error::host_not_found;
    endpoint = *results.begin();
  }
  auto [cec] = co_await conn.socket.socket().async_connect(endpoint, net::try_op);
  if (cec) co_return cec;
  conn.socket.socket().set_option(tcp::no_delay(true), ec);
  co_return error_code{};
}

// The handshake with an https:// server, within the connect timeout set by the caller; why it
// failed, or "" (the handshake is the connection's, so a pooled connection skips it).
net::Task<std::string> Session::tls_handshake(UpstreamConnection& conn, balancing::ServerState& server,
                                              const runtime::ServiceRuntime& service) {
  if (!service.tls) co_return std::string("the service has no TLS client context");
  auto& tls = conn.socket.use_tls(service.tls->context(), service.tls);
  service.tls->prepare(tls.native_handle(), server.spec.host);
  auto [ec] = co_await tls.async_handshake(asio::ssl::stream_base::client, net::try_op);
  if (!ec) co_return std::string();
  co_return net::handshake_error(tls.native_handle(), ec);
}

net::Task<error_code> Session::send_request(Exchange& x, UpstreamConnection& conn) {
  auto& xs = *x_;
  auto& up = conn.socket;
  const auto io_timeout = x.clamp(x.service.lb.timeouts.streamIdle);
  deadline_.after(io_timeout);
  if (x.body_buffered || x.framing.kind == http1::Framing::none) {
    const std::string_view body = x.body_buffered ? std::string_view(xs.body) : std::string_view{};
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(xs.head), asio::buffer(body)};
    auto [ec, n] = co_await asio::async_write(up, bufs, net::try_op);
    co_return ec;
  }
  // Stream the body from the client as it arrives: never read faster than the server takes it.
  x.body_consumed = true;
  if (auto ec = co_await send_continue_once()) co_return ec;
  deadline_.after(io_timeout);
  {
    auto [ec, n] = co_await asio::async_write(up, asio::buffer(xs.head), net::try_op);
    if (ec) co_return ec;
  }
  const bool chunked = x.framing.kind == http1::Framing::chunked;
  auto& chunks = xs.request_chunks;
  chunks.reset();
  std::uint64_t left = x.framing.size;  // for Content-Length
  for (;;) {
    std::string_view data;
    std::size_t used = 0;
    bool done = false;
    const auto pending = pending_body_bytes();
    if (chunked) {
      const auto step = chunks.next(pending);
      if (step.bad) {
        body_fault_ = BodyRead::malformed;
        co_return asio::error::invalid_argument;
      }
      data = step.data;
      used = step.consumed;
      done = step.done;
    } else {
      data = pending.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(left, pending.size())));
      used = data.size();
      left -= used;
      done = left == 0;
    }
    http1::Gather& out = xs.gather;
    out.clear();
    out.add_piece(data, chunked);
    if (done && chunked) out.add(kLastChunk);
    xs.record.bytes_in += data.size();
    if (!out.empty()) {
      deadline_.after(io_timeout);
      auto [wec, wn] = co_await asio::async_write(up, out.buffers(), net::try_op);
      if (wec) co_return wec;
    }
    take_body_bytes(used);
    if (done) break;
    if (used == 0) {
      if (auto rec = co_await read_body_bytes()) co_return rec;
    }
  }
  state_ = State::request_read;
  co_return error_code{};
}

// The response head. An interim response (100 Continue, 103 Early Hints) is not relayed: the final
// one is awaited. `got_any`: some byte of it arrived.
net::Task<error_code> Session::read_response_head(Exchange& x, UpstreamConnection& conn, bool& got_any) {
  auto& res = x_->res;
  const bool head_request = x_->req.method == "HEAD";
  deadline_.after(x.clamp(x.service.lb.timeouts.responseHeader));
  for (;;) {
    const auto status = http1::parse_response(conn.buffer.data(), res, {64 * 1024, http1::kMaxFields}, head_request);
    if (status == http1::Status::complete) {
      if (res.status / 100 == 1 && res.status != 101) {
        conn.buffer.consume(res.head_size);
        continue;
      }
      co_return error_code{};
    }
    if (status != http1::Status::incomplete) co_return asio::error::invalid_argument;
    auto room = conn.buffer.prepare(kResponseRead);
    auto [ec, n] = co_await conn.socket.async_read_some(asio::buffer(room.data(), room.size()), net::try_op);
    if (ec) co_return ec;
    got_any = true;
    conn.buffer.commit(n);
  }
}

net::Task<Session::Attempt> Session::attempt(Exchange& x, balancing::ServerState& server, bool may_retry) {
  auto& xs = *x_;
  const auto& req = xs.req;
  const auto& lb = x.service.lb;
  ++xs.record.attempts;
  // A pooled connection may have been closed by the server while idle: then the same server is
  // tried once more on a fresh connection. A body that cannot be sent again (streamed from the
  // client) never risks that: it always gets a fresh connection.
  const bool replayable = x.body_buffered || x.framing.kind == http1::Framing::none;
  for (int fresh_try = 0; fresh_try < 2; ++fresh_try) {
    auto conn = fresh_try == 0 && replayable ? worker_.upstreams().take_idle(server, net::Deadline::coarse_now())
                                             : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      conn = worker_.upstreams().make(server);
      set_upstream(conn.get());
      deadline_.after(x.clamp(lb.timeouts.connect));
      const auto cec = co_await connect(*conn, server);
      if (cec) {
        set_upstream(nullptr);
        runtime::record_failure(server, lb.passiveHealth, x.service.servers);
        co_return failed(Attempt::connect_failed, fmt::format("{}: connect: {}", server.spec.url,
                                      deadline_.expired() ? "timed out" : cec.message()));
      }
      if (server.spec.tls) {
        std::string why = co_await tls_handshake(*conn, server, x.service);
        if (!why.empty()) {
          set_upstream(nullptr);
          runtime::record_failure(server, lb.passiveHealth, x.service.servers);
          co_return failed(Attempt::connect_failed, fmt::format("{}: TLS handshake: {}", server.spec.url,
                                                                deadline_.expired() ? "timed out" : why));
        }
      }
    }
    set_upstream(conn.get());
    struct ClearUpstream {
      Session& s;
      ~ClearUpstream() {
        s.set_upstream(nullptr);
        if (s.state_ == State::at_server) s.state_ = State::request_read;
        s.watch_due_.clear();
      }
    } clear_upstream{*this};
    server.requests.fetch_add(1, std::memory_order_relaxed);
    xs.head.clear();
    http1::UpstreamRequestHead out{lb.passHostHeader ? original_host_ : std::string_view(server.host_header),
                                   server.spec.basePath, client_ip_text_, original_host_, x.framing};
    out.tls = client_.is_tls();
    if (x.route.middlewares) {
      out.target = xs.edits.path_set ? std::string_view(xs.edits.target) : std::string_view{};
      out.edits = &xs.edits.request;
    }
    http1::write_request_head(xs.head, req, out);
    if (auto sec = co_await send_request(x, *conn)) {
      // The client's body was malformed, stalled or cut: the client's fault, not the server's.
      if (body_fault_ != BodyRead::ok) co_return Attempt{Attempt::final, co_await refuse_body(body_fault_)};
      if (x.body_consumed) {
        x_->error = ErrorReply{502, "upstream_error",
                           fmt::format("{}: sending the request failed: {}", server.spec.url, sec.message())};
        const bool keep_alive = co_await reply_error(false);
        co_return Attempt{Attempt::final, keep_alive};
      }
      if (reused) continue;
      runtime::record_failure(server, lb.passiveHealth, x.service.servers);
      co_return failed(Attempt::retryable, fmt::format("{}: send: {}", server.spec.url, sec.message()));
    }

    state_ = State::at_server;
    watch_due_.after(net::DeadlineWheel::kTick);
    auto& res = xs.res;
    bool got_any = false;
    const error_code rec = co_await read_response_head(x, *conn, got_any);
    if (watch_.client_gone()) co_return Attempt{Attempt::final, false};  // nobody to answer
    if (rec) {
      if (deadline_.expired()) {
        runtime::record_failure(server, lb.passiveHealth, x.service.servers);
        const bool total = x.expired();
        x_->error = ErrorReply{
            504, "upstream_timeout",
            fmt::format("{} did not answer within {} ms (http.services.{}.loadBalancer.timeouts.{})",
                        server.spec.url,
                        total ? lb.timeouts.total.count() : lb.timeouts.responseHeader.count(),
                        x.service.name, total ? "total" : "responseHeader")};
        const bool keep_alive = co_await reply_error(!x.body_consumed);
        co_return Attempt{Attempt::final, keep_alive};
      }
      const bool lost = is_connection_lost(rec) && !got_any;
      if (reused && lost && !x.body_consumed) continue;
      runtime::record_failure(server, lb.passiveHealth, x.service.servers);
      std::string& error = xs.attempt_error;
      error = rec == asio::error::invalid_argument
                              ? fmt::format("{}: malformed response: {}", server.spec.url, res.error)
                              : fmt::format("{}: {}", server.spec.url, rec.message());
      if (!lost || x.body_consumed) {
        x_->error = ErrorReply{502, "upstream_error", error};
        const bool keep_alive = co_await reply_error(false);
        co_return Attempt{Attempt::final, keep_alive};
      }
      co_return Attempt{Attempt::retryable, false};
    }

    const int status = res.status;
    xs.record.upstream = server.spec.url;
    xs.record.ttfb = std::chrono::steady_clock::now() - started_;
    if (status >= 500) {
      runtime::record_failure(server, lb.passiveHealth, x.service.servers);
    } else {
      runtime::record_success(server);
    }
    const auto& retry_on = lb.retry.retryOn;
    if (may_retry && std::find(retry_on.begin(), retry_on.end(), status) != retry_on.end()) {
      // The answer is dropped with its connection; the client never sees it.
      co_return failed(Attempt::retryable, fmt::format("{} answered {}", server.spec.url, status));
    }
    const bool keep_alive = co_await relay_response(x, conn);
    co_return Attempt{Attempt::answered, keep_alive};
  }
  co_return failed(Attempt::connect_failed, fmt::format("{}: connection closed", server.spec.url));
}

}  // namespace modelgate::proxy
