// Plain TCP servers for the TCP listener's tests: an echo server that names itself, optionally
// reading a PROXY protocol v2 header first; and a client that connects from a chosen loopback
// address.
//
// The server accepts on 127.0.0.1 (port 0, or a given port to come back on after stop()), greets
// every connection with "NAME\n" ("NAME from IP:PORT\n" when it read a PROXY header: the client
// address the header carried, "NAME local\n" for a LOCAL header) and then echoes what it receives
// until the client ends; then it ends its side too. A thread per connection: tests open a few.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace modelgate::test {

class EchoServer {
 public:
  explicit EchoServer(std::string name, bool proxy_v2 = false, std::uint16_t port = 0);
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  const std::string& name() const { return name_; }
  int open() const { return open_.load(); }       // connections open now
  int accepted() const { return accepted_.load(); }  // every connection so far (health checks too)
  // Closes the listener and every connection: the port refuses from now on.
  void stop();

 private:
  void accept_loop();
  void serve(int fd);

  std::string name_;
  bool proxy_v2_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> open_{0};
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::vector<int> fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// A blocking client connection with timeouts (5 s unless told).
class TcpClient {
 public:
  // Connects to 127.0.0.1:`port`, from `source` (e.g. "127.0.0.2") when given. Throws on failure.
  explicit TcpClient(std::uint16_t port, const std::string& source = "");
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  // A connection that could not be made (refused, reset) instead of a throw.
  static std::unique_ptr<TcpClient> try_connect(std::uint16_t port, const std::string& source = "");

  void send(const std::string& bytes);
  // Reads up to and including the next '\n'; nullopt when the connection ended or timed out.
  std::optional<std::string> line(int timeout_ms = 5000);
  // Reads exactly n bytes; nullopt on end or timeout.
  std::optional<std::string> read(std::size_t n, int timeout_ms = 5000);
  // True when the peer ended the connection (EOF or reset) within the timeout.
  bool closed_by_peer(int timeout_ms = 5000);
  void shutdown_send();
  std::uint16_t local_port() const;

 private:
  TcpClient() = default;
  bool fill(int timeout_ms);  // one read into pending_; false on end or timeout
  int fd_ = -1;
  std::string pending_;
};

}  // namespace modelgate::test
