// The request body: read whole (to route by its model, or to replay it on another server), or
// handed on piece by piece as it arrives.
//
// Its first bytes usually come in the same read as the head and sit in the session's input buffer
// behind it; the rest is read into the exchange's body_in buffer, never into the input buffer, so
// the head's fields (views into that buffer) stay valid until the exchange ends. A Content-Length
// body read whole is read straight into its destination.
//
// Each read of the body waits at most timeouts.readBody (nginx's client_body_timeout: a limit
// between two reads, not on the whole body, so a slow but steady upload gets through). A body the
// client stops sending is answered 408, a malformed chunked framing 400: both are the client's
// doing, never reported as the server's.
#include <fmt/format.h>

#include <cstring>

#include "proxy/session_impl.h"

namespace modelgate::proxy {

namespace {
constexpr std::size_t kBodyRead = 16 * 1024;
}

std::string_view Session::pending_body_bytes() const {
  if (body_pos_ < in_.size()) return in_.data().substr(body_pos_);
  return x_->body_in.data();
}

void Session::take_body_bytes(std::size_t n) {
  if (body_pos_ < in_.size()) {
    body_pos_ += n;
  } else {
    x_->body_in.consume(n);
  }
}

net::Task<boost::system::error_code> Session::read_body_bytes() {
  body_bytes_ = BodyBytes::in_body_buffer;
  if (state_ == State::head_read) state_ = State::reading_body;
  auto room = x_->body_in.prepare(kBodyRead);
  deadline_.after(body_timeout_);
  auto [ec, n] = co_await client_.async_read_some(asio::buffer(room.data(), room.size()), net::try_op);
  if (ec) {
    body_fault_ = deadline_.expired() ? BodyRead::timed_out : BodyRead::failed;
  } else {
    x_->body_in.commit(n);
  }
  co_return ec;
}

// Sent on the move from head_read to reading_body, so at most once; never to an HTTP/1.0 client,
// which does not know interim responses (RFC 9110 §10.1.1).
net::Task<boost::system::error_code> Session::send_continue_once() {
  const auto& req = x_->req;
  if (state_ != State::head_read) co_return boost::system::error_code{};
  state_ = State::reading_body;
  if (!req.expect_continue || req.version < 11) co_return boost::system::error_code{};
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  deadline_.after(body_timeout_);
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), net::try_op);
  if (ec) body_fault_ = BodyRead::failed;
  co_return ec;
}

net::Task<bool> Session::refuse_body(BodyRead why) {
  switch (why) {
    case BodyRead::too_large:
      x_->error = ErrorReply{
          413, "request_too_large",
          fmt::format("request body is larger than {} bytes (entryPoints.{}.limits.maxBodyBytes)",
                      max_body_bytes_, entry_point_)};
      break;
    case BodyRead::malformed:
      x_->error = ErrorReply{400, "bad_request",
                             "the request body's chunked framing is malformed (RFC 9112 §7.1); send "
                             "size lines in hex ending in CRLF, each chunk followed by CRLF"};
      break;
    case BodyRead::timed_out:
      x_->error = ErrorReply{
          408, "request_timeout",
          fmt::format("the request body stalled: nothing arrived for {} ms (entryPoints.{}.timeouts.readBody)",
                      body_timeout_.count(), entry_point_)};
      break;
    case BodyRead::ok:
    case BodyRead::failed:
      co_return false;  // the client went away: nobody to answer
  }
  co_await reply_error(false);
  co_return false;
}

bool Session::body_arrived(std::size_t limit) {
  const auto& req = x_->req;
  if (request_read()) {
    x_->body.clear();
    return true;
  }
  if (req.body != http1::Body::length || req.content_length > limit || body_bytes_ == BodyBytes::in_body_buffer) {
    return false;
  }
  const auto pending = pending_body_bytes();
  if (pending.size() < req.content_length) return false;
  x_->body.assign(pending.substr(0, static_cast<std::size_t>(req.content_length)));
  take_body_bytes(x_->body.size());
  state_ = State::request_read;
  return true;
}

net::Task<Session::BodyRead> Session::read_whole_body(std::size_t limit) {
  auto& x = *x_;
  auto& body = x.body;
  body.clear();
  if (request_read()) co_return BodyRead::ok;
  const auto& req = x.req;
  if (req.body == http1::Body::length) {
    if (req.content_length > limit) co_return BodyRead::too_large;
    const auto size = static_cast<std::size_t>(req.content_length);
    body.resize(size);
    const auto first = pending_body_bytes().substr(0, size);
    std::memcpy(body.data(), first.data(), first.size());
    take_body_bytes(first.size());
    std::size_t have = first.size();
    if (have < size && co_await send_continue_once()) co_return BodyRead::failed;
    while (have < size) {
      deadline_.after(body_timeout_);
      auto [ec, n] = co_await client_.async_read_some(asio::buffer(body.data() + have, size - have), net::try_op);
      if (ec) co_return deadline_.expired() ? BodyRead::timed_out : BodyRead::failed;
      have += n;
    }
    state_ = State::request_read;
    co_return BodyRead::ok;
  }
  // Chunked: decoded piece by piece.
  auto& chunks = x.request_chunks;
  chunks.reset();
  if (pending_body_bytes().empty() && co_await send_continue_once()) co_return BodyRead::failed;
  for (;;) {
    const auto step = chunks.next(pending_body_bytes());
    if (step.bad) co_return BodyRead::malformed;
    if (body.size() + step.data.size() > limit) co_return BodyRead::too_large;
    body.append(step.data);
    take_body_bytes(step.consumed);
    if (step.done) break;
    if (step.consumed == 0 && co_await read_body_bytes()) co_return body_fault_;
  }
  state_ = State::request_read;
  co_return BodyRead::ok;
}

void Session::end_request_bytes() {
  // What the input buffer holds past the request (a pipelined next request, or bytes the
  // client watch read) stays; so does what was read into body_in past the body's end.
  const auto after_body = x_->body_in.data();
  in_.consume(std::min(body_pos_, in_.size()));
  if (!after_body.empty()) {
    // body_in's bytes came before anything the watch read into in_ only when the watch read into
    // body_in; it then read there, so body_in holds everything in order.
    in_.append(after_body);
    x_->body_in.consume(after_body.size());
  }
  x_->body_in.release();
}

}  // namespace modelgate::proxy
