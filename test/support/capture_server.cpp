#include "support/capture_server.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace modelgate::test {

CaptureServer::CaptureServer(std::string reply) : reply_(std::move(reply)) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::listen(fd_, 16);
  socklen_t len = sizeof addr;
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { serve(); });
}

CaptureServer::~CaptureServer() {
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  thread_.join();
}

std::string CaptureServer::last_head() {
  std::lock_guard lock(mutex_);
  return last_head_;
}

int CaptureServer::requests() {
  std::lock_guard lock(mutex_);
  return requests_;
}

void CaptureServer::set_reply(std::string reply) {
  std::lock_guard lock(mutex_);
  reply_ = std::move(reply);
}

void CaptureServer::serve() {
  for (;;) {
    int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::string data;
    char buf[4096];
    for (;;) {
      auto end = data.find("\r\n\r\n");
      if (end != std::string::npos) {
        std::string reply;
        {
          std::lock_guard lock(mutex_);
          last_head_ = data.substr(0, end + 4);
          ++requests_;
          reply = reply_;
        }
        data.erase(0, end + 4);
        if (::write(c, reply.data(), reply.size()) < 0) break;
        continue;
      }
      auto n = ::read(c, buf, sizeof buf);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    ::close(c);
  }
}

}  // namespace modelgate::test
