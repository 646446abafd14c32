// Accepts connections for one io_context and keeps the set of live sessions, so that stop()
// can close them. `modelgate sim --threads N` runs N listeners on N io_contexts bound to the
// same port with SO_REUSEPORT (the kernel spreads connections); an in-process Sim runs one on
// the caller's io_context, with a strand per connection in case the caller runs it on several
// threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_set>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "sim/core.h"

namespace modelgate::sim::detail {

class Session;

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens now (throws boost::system::system_error when it cannot).
  Listener(boost::asio::io_context& io, std::shared_ptr<SimCore> core,
           const boost::asio::ip::tcp::endpoint& endpoint, bool reuse_port, bool strand_per_connection);

  void start();  // begins accepting
  void stop();   // thread-safe: stops accepting and closes every connection

  std::uint16_t port() const { return port_; }
  SimCore& core() { return *core_; }

  bool add(Session* session);  // false once stopped
  void remove(Session* session);

 private:
  static boost::asio::awaitable<void> accept_loop(std::shared_ptr<Listener> self);

  boost::asio::io_context& io_;
  std::shared_ptr<SimCore> core_;
  boost::asio::ip::tcp::acceptor acceptor_;  // on a strand: stop() may come from any thread
  std::uint16_t port_ = 0;
  const bool strand_per_connection_;
  std::mutex mutex_;                         // guards sessions_ and stopped_
  std::unordered_set<Session*> sessions_;
  bool stopped_ = false;
};

// Resolves a listen host: an IP literal, or a name such as "localhost".
boost::asio::ip::address resolve_host(boost::asio::io_context& io, const std::string& host);

}  // namespace modelgate::sim::detail
