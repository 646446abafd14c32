// One relayed TCP connection (docs/tcp.md): the client's socket, the server's, two fixed buffers
// and one deadline, allocated once per connection; nothing is allocated per read.
//
// Bytes are copied both ways by two loops, each reading into its own buffer and writing that
// whole to the other side before reading again: a side that reads slowly slows the side that
// sends (backpressure), and at most one buffer per direction is in flight. When one side ends
// its sending (EOF), the other side's sending is shut down too (half-close, as TCP allows: a
// client may send a request, shut down, and still read the answer); the direction still open may
// then run for terminationDelay (Traefik's: 100 ms by default, a negative value waits for the idle
// timeout). Any read or write moves the deadline to the idle timeout; when it passes, both sockets
// are closed. An error on either side closes both.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "net/client_hello.h"
#include "net/deadline.h"
#include "net/io.h"

namespace modelgate::proxy {

struct RelayTimes {
  std::chrono::milliseconds idle{60'000};
  std::chrono::milliseconds termination_delay{100};  // < 0: until idle
};

struct RelayCounters {
  std::atomic<std::uint64_t>* bytes_in = nullptr;   // client -> server
  std::atomic<std::uint64_t>* bytes_out = nullptr;  // server -> client
};

class TcpRelay {
 public:
  // The first buffer also holds a peeked TLS ClientHello, so it fits the largest one.
  static constexpr std::size_t kBufferBytes = net::kMaxClientHelloBytes;

  TcpRelay(net::Socket client, net::DeadlineWheel& wheel);
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  net::Socket& client() { return client_; }
  net::Socket& server() { return server_; }
  std::array<std::uint8_t, kBufferBytes>& up() { return up_; }  // client -> server
  net::Deadline& deadline() { return deadline_; }
  // While connecting, the deadline closes only the server socket (the next server is tried).
  void connecting(bool yes) { connecting_ = yes; }

  // Relays until both directions ended or the deadline passed; the first `pending` bytes of up()
  // (a peeked ClientHello) are sent to the server first. Closes both sockets at the end.
  net::Task<void> run(std::size_t pending, RelayTimes times, RelayCounters counters);

 private:
  static void on_deadline(void* self);
  net::Task<void> pump(net::Socket& from, net::Socket& to, std::uint8_t* buffer, std::size_t pending,
                       std::atomic<std::uint64_t>* count);
  void ended();

  net::Socket client_;
  net::Socket server_;
  net::Deadline deadline_;
  RelayTimes times_;
  int ended_ = 0;
  bool connecting_ = false;
  std::array<std::uint8_t, kBufferBytes> up_;
  std::array<std::uint8_t, kBufferBytes> down_;
};

}  // namespace modelgate::proxy
