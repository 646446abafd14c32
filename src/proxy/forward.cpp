// The trip to an upstream server and back.
//
// The response streams through a fixed relay buffer: each piece read from the server is written
// to the client before the next is read, so a Server-Sent-Events stream reaches the client event
// by event and a slow client slows the server's connection, never the gateway's memory.
// A request may move to another server only while nothing of the response has reached the client
// and its body can be sent again (it was read whole, or there was none).
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>

#include "proxy/session_impl.h"

namespace modelgate::proxy {

namespace {

struct InflightCount {
  explicit InflightCount(balancing::ServerState& s) : s_(s) {
    s_.inflight.fetch_add(1, std::memory_order_relaxed);
    s_.requests.fetch_add(1, std::memory_order_relaxed);
  }
  ~InflightCount() { s_.inflight.fetch_sub(1, std::memory_order_relaxed); }
  balancing::ServerState& s_;
};

bool is_connection_lost(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == http::error::partial_message;
}

constexpr std::string_view kChunkEnd = "\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace

awaitable<beast::error_code> Session::send_request(UpstreamConnection& conn, const Framing& framing,
                                                   bool body_buffered, bool& body_consumed,
                                                   std::chrono::milliseconds io_timeout) {
  auto& up = conn.stream;
  up.expires_after(io_timeout);
  if (body_buffered || framing.kind == Framing::none) {
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(head_), asio::buffer(body_)};
    auto [ec, n] = co_await asio::async_write(up, bufs, nothrow);
    co_return ec;
  }
  // Stream the body from the client as it arrives: never read faster than the server takes it.
  body_consumed = true;
  if (auto ec = co_await send_continue_once()) co_return ec;
  {
    auto [ec, n] = co_await asio::async_write(up, asio::buffer(head_), nothrow);
    if (ec) co_return ec;
  }
  auto lease = worker_.buffers().lease();
  auto& parser = *parser_;
  while (!parser.is_done()) {
    auto& b = parser.get().body();
    b.data = lease.data();
    b.size = lease.size();
    client_.expires_after(io_timeout);
    auto [ec, n] = co_await http::async_read_some(client_, in_, parser, nothrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return ec;
    const std::size_t got = lease.size() - b.size;
    if (got == 0) continue;
    up.expires_after(io_timeout);
    if (framing.kind == Framing::chunked) {
      char line[20];
      auto len = chunk_size_line(line, got);
      std::array<asio::const_buffer, 3> bufs = {asio::buffer(line, len), asio::buffer(lease.data(), got),
                                                asio::buffer(kChunkEnd)};
      auto [wec, wn] = co_await asio::async_write(up, bufs, nothrow);
      if (wec) co_return wec;
    } else {
      auto [wec, wn] = co_await asio::async_write(up, asio::buffer(lease.data(), got), nothrow);
      if (wec) co_return wec;
    }
  }
  if (framing.kind == Framing::chunked) {
    auto [ec, n] = co_await asio::async_write(up, asio::buffer(kLastChunk), nothrow);
    co_return ec;
  }
  co_return beast::error_code{};
}

awaitable<bool> Session::forward(const EntryPointRuntime& ep, const Route& route, WorkerRoutes& routes,
                                 bool body_buffered) {
  auto& req = parser_->get();
  const ServiceRuntime& service = routes.snapshot->services[route.service];
  balancing::Pool& pool = routes.pools[route.service];
  const auto& lb = service.lb;

  Framing framing;
  if (body_buffered) {
    framing = body_.empty() ? Framing{} : Framing{Framing::length, body_.size()};
  } else if (!parser_->is_done()) {
    framing = parser_->chunked() ? Framing{Framing::chunked, 0}
                                 : Framing{Framing::length, parser_->content_length().value_or(0)};
  }

  std::array<balancing::ServerState*, 32> tried{};
  std::size_t ntried = 0;
  std::string last_error = "no server is available";
  int fail_status = 502;
  bool body_consumed = false;

  while (ntried < tried.size() && !body_consumed) {
    balancing::ServerState* server = pool.pick({tried.data(), ntried});
    if (!server) break;
    tried[ntried++] = server;
    auto server_ref = server->shared_from_this();

    // A pooled connection may have been closed by the server while idle; then the same server is
    // tried once more on a fresh connection.
    for (int fresh_try = 0; fresh_try < 2; ++fresh_try) {
      auto [cec, conn] = co_await worker_.upstreams().acquire(server_ref, lb.timeouts.connect);
      if (cec) {
        last_error = fmt::format("{}: connect: {}", server->spec.url,
                                 cec == beast::error::timeout ? "timed out" : cec.message());
        fail_status = 502;
        server->failures.fetch_add(1, std::memory_order_relaxed);
        spdlog::debug("{}", last_error);
        break;  // next server
      }
      InflightCount inflight(*server);
      head_.clear();
      write_request_head(head_, req,
                         {lb.passHostHeader ? original_host_ : std::string_view(server->host_header),
                          server->spec.basePath, client_ip_text_, original_host_, framing});
      auto sec = co_await send_request(*conn, framing, body_buffered, body_consumed, lb.timeouts.streamIdle);
      if (sec) {
        if (body_consumed) {
          // Part of a streamed body went to this server: it cannot be sent again anywhere.
          {
            const ErrorReply e_{
                502, "upstream_error",
                fmt::format("{}: sending the request failed: {}", server->spec.url, sec.message())};
            co_return co_await reply_error(e_, false);
          }
        }
        last_error = fmt::format("{}: send: {}", server->spec.url, sec.message());
        if (conn->reused) continue;
        break;
      }

      // An interim response (100 Continue, 103 Early Hints) is not relayed: wait for the final one.
      std::optional<ResponseParser> rp;
      beast::error_code rec;
      conn->stream.expires_after(lb.timeouts.responseHeader);
      do {
        rp.emplace();
        rp->header_limit(64 * 1024);
        rp->body_limit(boost::none);
        if (req.method() == http::verb::head) rp->skip(true);
        std::tie(rec, std::ignore) =
            co_await http::async_read_header(conn->stream, conn->buffer, *rp, nothrow);
      } while (!rec && rp->get().result_int() / 100 == 1 && rp->get().result_int() != 101);
      if (rec) {
        if (rec == beast::error::timeout) {
          {
            const ErrorReply e_{
                504, "upstream_timeout",
                fmt::format("{} did not answer within {} ms (http.services.{}.loadBalancer.timeouts."
                            "responseHeader)",
                            server->spec.url, lb.timeouts.responseHeader.count(), service.name)};
            co_return co_await reply_error(e_, !body_consumed);
          }
        }
        last_error = fmt::format("{}: {}", server->spec.url, rec.message());
        if (conn->reused && is_connection_lost(rec) && !body_consumed) continue;
        server->failures.fetch_add(1, std::memory_order_relaxed);
        if (!is_connection_lost(rec) || body_consumed) {
          {
            const ErrorReply e_{502, "upstream_error", last_error};
            co_return co_await reply_error(e_, false);
          }
        }
        break;  // the server dropped the connection before answering: next server
      }
      co_return co_await relay_response(*conn, *rp, route, service, conn);
    }
  }
  {
    const ErrorReply e_{fail_status, "upstream_unavailable",
                        fmt::format("no server of service \"{}\" could take the request ({} tried; last: {})",
                                    service.name, ntried, last_error)};
    co_return co_await reply_error(e_, !body_consumed);
  }
}

awaitable<bool> Session::relay_response(UpstreamConnection& conn, ResponseParser& rp, const Route& route,
                                        const ServiceRuntime& service,
                                        std::unique_ptr<UpstreamConnection>& owned) {
  const auto& req = parser_->get();
  const auto& res = rp.get();
  const auto& timeouts = service.lb.timeouts;
  const bool http10 = req.version() < 11;
  bool client_keep = req.keep_alive() && !worker_.gateway_draining();
  const int status = res.result_int();
  const bool head_only = req.method() == http::verb::head || status == 204 || status == 304;

  ClientResponseHead out;
  if (head_only) {
    if (auto cl = rp.content_length(); cl && req.method() == http::verb::head)
      out.framing = {Framing::length, *cl};
  } else if (auto cl = rp.content_length()) {
    out.framing = {Framing::length, *cl};
  } else if (!http10) {
    out.framing = {Framing::chunked, 0};
  } else {
    out.framing = {Framing::until_close, 0};
    client_keep = false;
  }
  out.keep_alive = client_keep;
  out.http10 = http10;
  if (route.upstream_header) out.upstream = conn.server->spec.url;
  // HEAD answers carry the length of the body they omit; write_response_head writes framing only
  // for bodies, so for HEAD the length is passed through as framing too.
  const bool chunked = out.framing.kind == Framing::chunked;
  const bool is_sse = res[http::field::content_type].starts_with("text/event-stream");

  head_.clear();
  write_response_head(head_, res, out);
  auto lease = worker_.buffers().lease();
  bool head_sent = false;
  bool upstream_failed = false;

  auto write_piece = [&](std::size_t got) -> awaitable<beast::error_code> {
    char line[20];
    std::size_t len = chunked && got ? chunk_size_line(line, got) : 0;
    std::array<asio::const_buffer, 4> bufs = {asio::buffer(head_.data(), head_sent ? 0 : head_.size()),
                                              asio::buffer(line, len), asio::buffer(lease.data(), got),
                                              asio::buffer(kChunkEnd.data(), len ? 2 : 0)};
    head_sent = true;
    client_.expires_after(timeouts.streamIdle);
    auto [ec, n] = co_await asio::async_write(client_, bufs, nothrow);
    co_return ec;
  };

  // When the first piece of the body came with the header, both go out in one write; otherwise the
  // head goes now, so a client sees the status before a slow first token.
  if (conn.buffer.size() == 0 || head_only) {
    if (co_await write_piece(0)) co_return false;
  }
  while (!head_only && !rp.is_done()) {
    auto& b = rp.get().body();
    b.data = lease.data();
    b.size = lease.size();
    conn.stream.expires_after(timeouts.streamIdle);
    auto [ec, n] = co_await http::async_read_some(conn.stream, conn.buffer, rp, nothrow);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = lease.size() - b.size;
    if (got > 0 || !head_sent) {
      if (co_await write_piece(got)) co_return false;  // the client is gone; the upstream closes with us
    }
    if (ec) {
      upstream_failed = true;
      spdlog::warn("{}: response body broken: {}", conn.server->spec.url, ec.message());
      break;
    }
  }
  if (!head_sent) {
    if (co_await write_piece(0)) co_return false;
  }
  if (upstream_failed) {
    conn.server->failures.fetch_add(1, std::memory_order_relaxed);
    if (chunked) {
      // A broken stream still ends cleanly: an SSE client gets an error event it can show.
      std::string tail;
      if (is_sse) {
        auto event =
            fmt::format("data: {}\n\n",
                        error_json({502, "upstream_stream_broken",
                                    fmt::format("the model server {} stopped in the middle of the response",
                                                conn.server->spec.url)}));
        tail = fmt::format("{:x}\r\n{}\r\n", event.size(), event);
      }
      tail += kLastChunk;
      client_.expires_after(std::chrono::seconds(5));
      co_await asio::async_write(client_, asio::buffer(tail), nothrow);
    }
    co_return false;
  }
  if (chunked) {
    client_.expires_after(timeouts.streamIdle);
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kLastChunk), nothrow);
    if (ec) co_return false;
  }
  if (rp.keep_alive() && rp.is_done()) worker_.upstreams().release(std::move(owned));
  co_return client_keep;
}

}  // namespace modelgate::proxy
