#include "sim/listener.h"

#include <chrono>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sim/session.h"

namespace modelgate::sim::detail {

namespace asio = boost::asio;
using asio::ip::tcp;

Listener::Listener(asio::io_context& io, std::shared_ptr<SimCore> core, const tcp::endpoint& endpoint,
                   bool reuse_port, bool strand_per_connection)
    : io_(io),
      core_(std::move(core)),
      acceptor_(asio::make_strand(io)),
      strand_per_connection_(strand_per_connection) {
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  if (reuse_port) {
    acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  }
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
  port_ = acceptor_.local_endpoint().port();
}

void Listener::start() {
  asio::co_spawn(acceptor_.get_executor(), accept_loop(shared_from_this()), asio::detached);
}

asio::awaitable<void> Listener::accept_loop(std::shared_ptr<Listener> self) {
  auto use_tuple = asio::as_tuple(asio::use_awaitable);
  for (;;) {
    auto executor = self->strand_per_connection_ ? asio::any_io_executor(asio::make_strand(self->io_))
                                                 : asio::any_io_executor(self->io_.get_executor());
    auto [ec, socket] = co_await self->acceptor_.async_accept(executor, use_tuple);
    if (!self->acceptor_.is_open()) co_return;
    if (ec) {
      // Out of file descriptors and the like: back off briefly instead of spinning.
      asio::steady_timer pause(self->acceptor_.get_executor(), std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = std::make_shared<Session>(std::move(socket), self);
    asio::co_spawn(session->executor(), Session::start(session), asio::detached);
  }
}

void Listener::stop() {
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    stopped_ = true;
    for (Session* s : sessions_) {
      if (auto session = s->weak_from_this().lock()) live.push_back(std::move(session));
    }
  }
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ignored;
    self->acceptor_.close(ignored);
  });
  for (auto& session : live) {
    auto executor = session->executor();
    asio::post(executor, [session = std::move(session)] { session->close(); });
  }
}

bool Listener::add(Session* session) {
  std::lock_guard lock(mutex_);
  if (stopped_) return false;
  sessions_.insert(session);
  return true;
}

void Listener::remove(Session* session) {
  std::lock_guard lock(mutex_);
  sessions_.erase(session);
}

asio::ip::address resolve_host(asio::io_context& io, const std::string& host) {
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return address;
  tcp::resolver resolver(io);
  auto results = resolver.resolve(host, "", ec);
  if (ec || results.empty()) {
    throw boost::system::system_error(ec ? ec : asio::error::host_not_found, "resolve " + host);
  }
  return results.begin()->endpoint().address();
}

}  // namespace modelgate::sim::detail
