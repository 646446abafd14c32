// Relaying an upstream answer to the client.
//
// What one read from the server brings (the head, body bytes, the end of the body) leaves in one
// gathered write, re-framed for the client: a body of unknown length goes chunked to an HTTP/1.1
// client. A Server-Sent-Events stream thus reaches the client event by event, and a slow client
// slows the server's connection, never the gateway's memory. Token counting (UsageTap) reads the
// body on the way.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "runtime/outlier_detection.h"
#include "http1/gather.h"
#include "proxy/session_impl.h"

namespace modelgate::proxy {

using boost::system::error_code;
using std::chrono::milliseconds;

net::Task<bool> Session::relay_response(Exchange& x, std::unique_ptr<UpstreamConnection>& owned) {
  auto& xs = *x_;
  UpstreamConnection& conn = *owned;
  const auto& req = xs.req;
  const auto& res = xs.res;
  const auto& timeouts = x.service.lb.timeouts;
  const bool http10 = req.version < 11;
  bool client_keep = req.keep_alive && !worker_.gateway_draining();
  const int status = res.status;
  const bool head_request = req.method == "HEAD";

  http1::ClientResponseHead out;
  switch (res.body) {
    case http1::Body::none:
      out.keep_content_length = head_request;  // HEAD answers carry the length of the body they omit
      break;
    case http1::Body::length:
      out.framing = {http1::Framing::length, res.content_length};
      break;
    case http1::Body::chunked:
    case http1::Body::until_close:
      if (!http10) {
        out.framing = {http1::Framing::chunked, 0};
      } else {
        out.framing = {http1::Framing::until_close, 0};
        client_keep = false;
      }
      break;
  }
  out.keep_alive = client_keep;
  out.extra = xs.extra_head;
  if (x.route.middlewares && x.route.middlewares->edits_response) out.edits = &xs.edits.response;
  out.http10 = http10;
  if (x.route.upstream_header) out.upstream = conn.server->spec.url;
  const bool chunked_out = out.framing.kind == http1::Framing::chunked;
  const bool is_sse = res.content_type.starts_with("text/event-stream");
  const auto body_kind = res.body;
  std::uint64_t left = res.content_length;
  const bool upstream_keep = res.keep_alive;
  // Token counting reads the body as it passes; an event of usage the gateway asked for on the
  // client's behalf is taken out again, so the client sees what it asked for.
  const bool tap = body_kind != http1::Body::none && res.content_encoding.empty();
  const bool strip = tap && is_sse && xs.usage_injected;

  xs.head.clear();
  http1::write_response_head(xs.head, res, out);
  conn.buffer.consume(res.head_size);  // the response head's views are not used past here
  xs.record.status = status;
  xs.record.stream = is_sse;
  auto& usage = xs.usage_tap;
  if (tap) usage.reset(is_sse ? observability::UsageTap::Body::sse : observability::UsageTap::Body::json, strip);
  auto& chunks = xs.response_chunks;
  chunks.reset();

  bool head_sent = false;
  bool complete = body_kind == http1::Body::none;
  error_code broken;
  http1::Gather& gather = xs.gather;
  for (;;) {
    // Everything the buffer holds of the body goes out in one write, with the head if it has not
    // gone yet, and with the last chunk if the body is complete.
    gather.clear();
    if (!head_sent) gather.add(xs.head);
    std::size_t used = 0;
    std::string_view input = conn.buffer.data();
    xs.tap_out.clear();
    while (!complete && !gather.full()) {
      std::string_view piece;
      if (body_kind == http1::Body::chunked) {
        const auto step = chunks.next(input.substr(used));
        if (step.bad) {
          broken = asio::error::invalid_argument;
          break;
        }
        used += step.consumed;
        piece = step.data;
        complete = step.done;
        if (step.consumed == 0) break;
      } else {
        piece = input.substr(used);
        if (body_kind == http1::Body::length) {
          piece = piece.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(left, piece.size())));
          left -= piece.size();
          complete = left == 0;
        }
        used += piece.size();
        if (piece.empty()) break;
      }
      if (piece.empty()) continue;
      if (strip) {
        usage.feed(piece, xs.tap_out);
      } else {
        if (tap) usage.feed(piece);
        gather.add_piece(piece, chunked_out);
        xs.record.bytes_out += piece.size();
      }
      if (body_kind != http1::Body::chunked) break;
    }
    if (tap && xs.charge && usage.first_data_at()) {  // the prefill is done
      xs.charge->release();
      xs.charge = nullptr;
    }
    if (complete && tap) {
      if (strip) {
        usage.finish(xs.tap_out);
      } else {
        usage.finish();
      }
    }
    if (strip && !xs.tap_out.empty()) {
      gather.add_piece(xs.tap_out, chunked_out);
      xs.record.bytes_out += xs.tap_out.size();
    }
    if (complete && chunked_out) gather.add(kLastChunk);
    // The head goes at once even without body bytes: a client sees the status before a slow
    // first token.
    if (!gather.empty()) {
      deadline_.after(x.clamp(timeouts.streamIdle));
      auto [ec, n] = co_await asio::async_write(client_, gather.buffers(), net::try_op);
      // A failed write means the client is gone; the upstream connection closes with us.
      if (ec) co_return false;
      head_sent = true;
    }
    conn.buffer.consume(used);
    if (complete || broken) break;
    if (used > 0 && !conn.buffer.empty() && gather.full()) continue;  // more buffered: no read yet
    auto room = conn.buffer.prepare(kResponseRead);
    deadline_.after(x.clamp(timeouts.streamIdle));
    auto [ec, n] = co_await conn.socket.async_read_some(asio::buffer(room.data(), room.size()), net::try_op);
    if (ec) {
      if (body_kind == http1::Body::until_close && ec == asio::error::eof) {
        complete = true;
        continue;
      }
      broken = deadline_.expired() ? error_code(asio::error::timed_out) : ec;
      break;
    }
    conn.buffer.commit(n);
  }
  if (tap) {
    xs.record.prompt_tokens = usage.prompt_tokens();
    xs.record.completion_tokens = usage.completion_tokens();
    if (auto first = usage.first_data_at()) xs.record.ttft = *first - started_;
  }
  if (broken) {
    spdlog::warn("{}: response broken after it started: {}", conn.server->spec.url,
                 broken == asio::error::timed_out ? "no data within timeouts.streamIdle" : broken.message());
    runtime::record_failure(*conn.server, x.service.lb.passiveHealth, x.service.servers);
    if (chunked_out && is_sse) {
      // A broken event stream still ends cleanly: the client gets an error event it can show.
      x_->error = ErrorReply{
          502, "upstream_stream_broken",
          fmt::format("the model server {} stopped in the middle of the response", conn.server->spec.url)};
      const std::string event = fmt::format("data: {}\n\n", error_json(x_->error));
      const std::string tail = fmt::format("{:x}\r\n{}\r\n{}", event.size(), event, kLastChunk);
      co_await write_client(tail, milliseconds(5000));
    }
    // Any other body is left visibly incomplete (no last chunk, or short of its length): closing
    // tells the client the truth.
    co_return false;
  }
  // The connection carries another request only if this answer ended exactly where it said.
  if (upstream_keep && body_kind != http1::Body::until_close && conn.buffer.empty()) {
    worker_.upstreams().release(std::move(owned), x.service.lb.timeouts.idleConnection,
                                net::Deadline::coarse_now());
  }
  co_return client_keep;
}

}  // namespace modelgate::proxy
