#include "support/tcp_servers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace modelgate::test {

namespace {

bool read_exact(int fd, unsigned char* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd, out + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<std::size_t>(r);
  }
  return true;
}

void write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
}

// The PROXY v2 header (proxy-protocol.txt §2.2), as a server reads it: what it says of the client.
std::optional<std::string> read_proxy_v2(int fd) {
  static const unsigned char kSig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
  unsigned char head[16];
  if (!read_exact(fd, head, 16) || std::memcmp(head, kSig, 12) != 0 || (head[12] >> 4) != 2) return std::nullopt;
  const std::size_t length = (std::size_t{head[14]} << 8) | head[15];
  std::vector<unsigned char> body(length);
  if (length > 0 && !read_exact(fd, body.data(), length)) return std::nullopt;
  if ((head[12] & 0x0F) == 0) return std::string("local");
  char text[INET6_ADDRSTRLEN] = {};
  if (head[13] == 0x11 && length >= 12) {
    inet_ntop(AF_INET, body.data(), text, sizeof text);
    return "from " + std::string(text) + ":" + std::to_string((body[8] << 8) | body[9]);
  }
  if (head[13] == 0x21 && length >= 36) {
    inet_ntop(AF_INET6, body.data(), text, sizeof text);
    return "from [" + std::string(text) + "]:" + std::to_string((body[32] << 8) | body[33]);
  }
  return std::string("unknown family");
}

void set_timeouts(int fd, int ms) {
  timeval tv{ms / 1000, (ms % 1000) * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

sockaddr_in loopback(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

}  // namespace

EchoServer::EchoServer(std::string name, bool proxy_v2, std::uint16_t port) : name_(std::move(name)), proxy_v2_(proxy_v2) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback("127.0.0.1", port);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 128) != 0) {
    const std::string why = std::strerror(errno);
    ::close(listen_fd_);
    throw std::runtime_error("echo server " + name_ + ": cannot listen: " + why);
  }
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

EchoServer::~EchoServer() { stop(); }

void EchoServer::stop() {
  if (stopping_.exchange(true)) return;
  ::shutdown(listen_fd_, SHUT_RDWR);
  ::close(listen_fd_);
  if (acceptor_.joinable()) acceptor_.join();
  {
    std::lock_guard lock(mutex_);
    for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void EchoServer::accept_loop() {
  for (;;) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (stopping_) return;
      if (errno == EINTR || errno == ECONNABORTED) continue;
      return;
    }
    accepted_.fetch_add(1);
    std::lock_guard lock(mutex_);
    if (stopping_) {
      ::close(fd);
      return;
    }
    fds_.push_back(fd);
    open_.fetch_add(1);
    threads_.emplace_back([this, fd] { serve(fd); });
  }
}

void EchoServer::serve(int fd) {
  std::string greeting = name_;
  if (proxy_v2_) {
    auto who = read_proxy_v2(fd);
    greeting += " " + (who ? *who : std::string("no PROXY header"));
  }
  greeting += "\n";
  write_all(fd, greeting.data(), greeting.size());
  char buffer[16384];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    write_all(fd, buffer, static_cast<std::size_t>(n));
  }
  ::shutdown(fd, SHUT_WR);
  open_.fetch_sub(1);
  std::lock_guard lock(mutex_);
  std::erase(fds_, fd);
  ::close(fd);
}

TcpClient::TcpClient(std::uint16_t port, const std::string& source) {
  auto c = try_connect(port, source);
  if (!c) throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
  fd_ = std::exchange(c->fd_, -1);
}

std::unique_ptr<TcpClient> TcpClient::try_connect(std::uint16_t port, const std::string& source) {
  std::unique_ptr<TcpClient> c(new TcpClient());
  c->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  set_timeouts(c->fd_, 5000);
  if (!source.empty()) {
    sockaddr_in from = loopback(source, 0);
    if (::bind(c->fd_, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0) return nullptr;
  }
  sockaddr_in to = loopback("127.0.0.1", port);
  if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) return nullptr;
  int one = 1;
  ::setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return c;
}

TcpClient::~TcpClient() {
  if (fd_ >= 0) ::close(fd_);
}

void TcpClient::send(const std::string& bytes) { write_all(fd_, bytes.data(), bytes.size()); }

bool TcpClient::fill(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char buffer[16384];
  const ssize_t r = ::recv(fd_, buffer, sizeof buffer, 0);
  if (r <= 0) return false;
  pending_.append(buffer, static_cast<std::size_t>(r));
  return true;
}

std::optional<std::string> TcpClient::read(std::size_t n, int timeout_ms) {
  while (pending_.size() < n) {
    if (!fill(timeout_ms)) return std::nullopt;
  }
  std::string out = pending_.substr(0, n);
  pending_.erase(0, n);
  return out;
}

std::optional<std::string> TcpClient::line(int timeout_ms) {
  std::size_t nl;
  while ((nl = pending_.find('\n')) == std::string::npos) {
    if (!fill(timeout_ms)) return std::nullopt;
  }
  return read(nl + 1, timeout_ms);
}

bool TcpClient::closed_by_peer(int timeout_ms) {
  pollfd p{fd_, POLLIN, 0};
  if (::poll(&p, 1, timeout_ms) <= 0) return false;
  char buffer[16384];
  const ssize_t r = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
  if (r > 0) {
    pending_.append(buffer, static_cast<std::size_t>(r));
    return closed_by_peer(timeout_ms);
  }
  return r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

void TcpClient::shutdown_send() { ::shutdown(fd_, SHUT_WR); }

std::uint16_t TcpClient::local_port() const {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace modelgate::test
