// A connection that is plain TCP or TLS over TCP, chosen per connection at run time.
//
// The data plane awaits async_read_some / async_write_some (and asio::async_write over them) on
// one type, so a client or upstream connection is a Stream either way. A plain connection pays one
// predictable branch per operation: the operation is initiated through asio::async_initiate, which
// hands the caller's completion handler (with the concrete executor of net/io.h) straight to the
// socket, so no type erasure and no allocation is added. A TLS connection is an
// asio::ssl::stream over the same socket, made by use_tls() (one SSL object per connection).
//
// Asio's SSL stream allows one read and one write in flight at once (the hang-up watch reads while
// an answer is written), never two reads. Cancelling and closing act on the socket, so a deadline
// or a hang-up aborts a TLS operation the same way it aborts a plain one.
//
// A Stream is neither copied nor moved: the SSL stream refers to the socket member.
#pragma once

#include <boost/asio/ssl.hpp>

#include <memory>
#include <utility>

#include "net/io.h"

namespace modelgate::net {

using TlsStream = asio::ssl::stream<Socket&>;

class Stream {
 public:
  using executor_type = Executor;
  using lowest_layer_type = Socket;

  explicit Stream(Executor ex) : socket_(ex) {}
  explicit Stream(Socket socket) : socket_(std::move(socket)) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  executor_type get_executor() { return socket_.get_executor(); }
  Socket& socket() { return socket_; }
  bool is_tls() const { return tls_ != nullptr; }
  TlsStream* tls() { return tls_.get(); }
  // Makes this connection TLS with `ctx` (a handshake must follow). `keep` is held as long as the
  // connection: whatever `ctx`'s callbacks point at.
  TlsStream& use_tls(asio::ssl::context& ctx, std::shared_ptr<const void> keep = {}) {
    tls_ = std::make_unique<TlsStream>(socket_, ctx);
    keep_ = std::move(keep);
    return *tls_;
  }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& buffers, Token&& token) {
    return initiate<false>(buffers, std::forward<Token>(token));
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& buffers, Token&& token) {
    return initiate<true>(buffers, std::forward<Token>(token));
  }

  void cancel(boost::system::error_code& ec) { socket_.cancel(ec); }
  void close(boost::system::error_code& ec) { socket_.close(ec); }
  bool is_open() const { return socket_.is_open(); }

 private:
  template <bool Write, class Buffers, class Token>
  auto initiate(const Buffers& buffers, Token&& token) {
    return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const Buffers& b) {
          if constexpr (Write) {
            if (tls_) return tls_->async_write_some(b, std::move(handler));
            socket_.async_write_some(b, std::move(handler));
          } else {
            if (tls_) return tls_->async_read_some(b, std::move(handler));
            socket_.async_read_some(b, std::move(handler));
          }
        },
        token, buffers);
  }

  Socket socket_;
  std::unique_ptr<TlsStream> tls_;
  std::shared_ptr<const void> keep_;
};

}  // namespace modelgate::net
