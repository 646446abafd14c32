#include "etcd/post.h"

#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>

#include "http1/probe.h"

namespace modelgate::etcd {

namespace {

#ifdef MODELGATE_VERSION
constexpr const char* kUserAgent = "modelgate/" MODELGATE_VERSION;
#else
constexpr const char* kUserAgent = "modelgate";
#endif

// Keepalive probes on an idle stream: after `timeout` of silence, every `timeout`, three of them,
// so an etcd machine that vanished is noticed within about 4 × timeout.
void keep_probing(beast::tcp_stream& stream, std::chrono::milliseconds timeout) {
  const int fd = stream.socket().native_handle();
  const int on = 1;
  const int seconds = static_cast<int>(std::max<std::int64_t>(1, timeout.count() / 1000));
  const int count = 3;
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seconds, sizeof seconds);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &seconds, sizeof seconds);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

std::string describe(std::string_view step, const beast::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout) return fmt::format("{}: timed out after {} ms", step, timeout.count());
  return fmt::format("{}: {}", step, ec.message());
}

}  // namespace

Post::Post(asio::any_io_executor ex) : stream_(std::move(ex)) {
  parser_.header_limit(64 * 1024);
  parser_.body_limit(boost::none);  // a watch stream has no end; rest() bounds a unary answer
}

awaitable<bool> Post::open(const Endpoint& endpoint, std::string_view target, std::string_view body,
                           Deadline deadline) {
  timeout_ = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  http1::ProbeResult connected;
  // Every co_await in this file and in client.cpp stands alone in its statement, its arguments
  // named first: g++ 12 resumed rest() at a wrong point (SIGILL) while it awaited read_more() in a
  // `while` condition with the deadline converted to std::optional in place.
  const bool open = co_await http1::open_stream(stream_, endpoint.host, endpoint.port, deadline, timeout_, connected);
  if (!open) {
    error_ = connected.error;
    co_return false;
  }
  keep_probing(stream_, timeout_);
  http::request<http::string_body> request{http::verb::post, target, 11};
  request.set(http::field::host, endpoint.to_string());
  request.set(http::field::user_agent, kUserAgent);
  request.set(http::field::content_type, "application/json");
  request.set(http::field::connection, "close");
  request.body() = std::string(body);
  request.prepare_payload();
  stream_.expires_at(deadline);
  auto [wec, written] = co_await http::async_write(stream_, request, net::nothrow);
  if (wec) {
    error_ = describe("send request", wec, timeout_);
    co_return false;
  }
  auto [rec, read] = co_await http::async_read_header(stream_, buffer_, parser_, net::nothrow);
  if (rec) {
    error_ = describe("read answer", rec, timeout_);
    co_return false;
  }
  status_ = static_cast<int>(parser_.get().result_int());
  co_return true;
}

awaitable<bool> Post::read_more(std::optional<Deadline> deadline) {
  if (parser_.is_done()) co_return false;
  if (deadline) {
    stream_.expires_at(*deadline);
  } else {
    stream_.expires_never();
  }
  for (;;) {
    auto& body = parser_.get().body();
    body.data = chunk_.data();
    body.size = chunk_.size();
    auto [ec, n] = co_await http::async_read_some(stream_, buffer_, parser_, net::nothrow);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = chunk_.size() - parser_.get().body().size;
    pending_.append(chunk_.data(), got);
    if (ec) {
      error_ = describe("read answer", ec, timeout_);
      co_return false;
    }
    if (got > 0) co_return true;
    if (parser_.is_done()) co_return false;
  }
}

awaitable<bool> Post::next_line(std::string& line, std::optional<Deadline> deadline) {
  for (;;) {
    if (const auto newline = pending_.find('\n'); newline != std::string::npos) {
      line.assign(pending_, 0, newline);
      pending_.erase(0, newline + 1);
      co_return true;
    }
    const std::optional<Deadline> until = deadline;
    const bool more = co_await read_more(until);
    if (!more) {
      if (!error_.empty() || pending_.empty()) co_return false;
      line = std::move(pending_);
      pending_.clear();
      co_return true;
    }
  }
}

awaitable<bool> Post::rest(std::string& body, Deadline deadline) {
  const std::optional<Deadline> until = deadline;
  for (;;) {
    const bool more = co_await read_more(until);
    if (!more) break;
    if (pending_.size() > kMaxAnswer) {
      error_ = fmt::format("read answer: larger than {} bytes", kMaxAnswer);
      co_return false;
    }
  }
  if (!error_.empty()) co_return false;
  body = std::move(pending_);
  pending_.clear();
  co_return true;
}

}  // namespace modelgate::etcd
