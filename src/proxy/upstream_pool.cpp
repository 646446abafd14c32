#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <cerrno>

namespace modelgate::proxy {

namespace {

// An idle keep-alive connection has nothing to read; readable means the server closed it (EOF)
// or sent something unexpected. Either way it must not carry a new request.
bool still_open(UpstreamConnection& c) {
  char byte;
  auto fd = c.stream.socket().native_handle();
  ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

awaitable<std::tuple<beast::error_code, std::unique_ptr<UpstreamConnection>>> UpstreamPool::acquire(
    balancing::ServerState& server, std::chrono::milliseconds connect_timeout) {
  if (auto it = idle_.find(&server); it != idle_.end()) {
    auto& list = it->second;
    while (!list.empty()) {
      auto conn = std::move(list.back());
      list.pop_back();
      if (conn->buffer.size() == 0 && still_open(*conn)) {
        conn->reused = true;
        co_return std::tuple{beast::error_code{}, std::move(conn)};
      }
    }
  }
  auto conn = std::make_unique<UpstreamConnection>(ex_);
  conn->server = server.shared_from_this();
  const auto& spec = server.spec;
  beast::error_code ec;
  auto address = asio::ip::make_address(spec.host, ec);
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = tcp::endpoint(address, spec.port);
  } else {
    tcp::resolver resolver(ex_);
    const std::string service = std::to_string(spec.port);
    auto [rec, results] = co_await resolver.async_resolve(spec.host, service, nothrow);
    if (rec || results.empty()) co_return std::tuple{rec ? rec : asio::error::host_not_found, nullptr};
    endpoint = *results.begin();
  }
  conn->stream.expires_after(connect_timeout);
  auto [cec] = co_await conn->stream.async_connect(endpoint, nothrow);
  if (cec) co_return std::tuple{cec, nullptr};
  conn->stream.socket().set_option(tcp::no_delay(true));
  co_return std::tuple{beast::error_code{}, std::move(conn)};
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn) {
  auto& list = idle_[conn->server.get()];
  if (list.size() >= max_idle_) return;
  conn->stream.expires_never();
  list.push_back(std::move(conn));
}

std::size_t UpstreamPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [_, list] : idle_) n += list.size();
  return n;
}

}  // namespace modelgate::proxy
