// See tcp_relay.h: the two copy loops of a relayed connection, their half-close and timeouts.
#include "proxy/tcp_relay.h"

#include <boost/asio/experimental/awaitable_operators.hpp>

namespace modelgate::proxy {

using namespace asio::experimental::awaitable_operators;

TcpRelay::TcpRelay(net::Socket client, net::DeadlineWheel& wheel)
    : client_(std::move(client)), server_(client_.get_executor()), deadline_(wheel, &TcpRelay::on_deadline, this) {}

void TcpRelay::on_deadline(void* self) {
  auto& r = *static_cast<TcpRelay*>(self);
  boost::system::error_code ignored;
  r.server_.close(ignored);
  if (!r.connecting_) r.client_.close(ignored);
}

net::Task<void> TcpRelay::run(std::size_t pending, RelayTimes times, RelayCounters counters) {
  times_ = times;
  connecting_ = false;
  deadline_.after(times_.idle);
  co_await (pump(client_, server_, up_.data(), pending, counters.bytes_in) &&
            pump(server_, client_, down_.data(), 0, counters.bytes_out));
  deadline_.clear();
  boost::system::error_code ignored;
  client_.close(ignored);
  server_.close(ignored);
}

net::Task<void> TcpRelay::pump(net::Socket& from, net::Socket& to, std::uint8_t* buffer, std::size_t pending,
                               std::atomic<std::uint64_t>* count) {
  std::size_t n = pending;
  bool clean = true;  // the source ended with EOF, not an error
  for (;;) {
    if (n > 0) {
      auto [wec, written] = co_await asio::async_write(to, asio::buffer(buffer, n), net::try_op);
      if (wec) {
        clean = false;
        break;
      }
      if (count) count->fetch_add(n, std::memory_order_relaxed);
      if (ended_ == 0 || times_.termination_delay.count() < 0) deadline_.after(times_.idle);
    }
    auto [rec, got] = co_await from.async_read_some(asio::buffer(buffer, kBufferBytes), net::try_op);
    if (rec) {
      clean = rec == asio::error::eof;
      break;
    }
    n = got;
  }
  boost::system::error_code ignored;
  if (clean) {
    to.shutdown(asio::socket_base::shutdown_send, ignored);  // half-close: the other way goes on
  } else {
    // A reset or a failed write: nothing more can be relayed either way.
    client_.close(ignored);
    server_.close(ignored);
  }
  ended();
}

void TcpRelay::ended() {
  if (++ended_ != 1) return;
  if (times_.termination_delay.count() >= 0) deadline_.after(times_.termination_delay);
}

}  // namespace modelgate::proxy
