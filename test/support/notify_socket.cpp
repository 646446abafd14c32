#include "support/notify_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "support/gateway_process.h"

namespace modelgate::test {

namespace {

bool has_line(const std::string& message, const std::string& line) {
  std::istringstream in(message);
  for (std::string l; std::getline(in, l);) {
    if (line.ends_with('=') ? l.starts_with(line) : l == line) return true;
  }
  return false;
}

}  // namespace

NotifySocket::NotifySocket() : path_(temp_dir() + "/notify.sock") {
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (fd_ < 0 || path_.size() >= sizeof addr.sun_path) throw std::runtime_error("notify socket: " + path_);
  std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error("notify socket: bind " + path_ + ": " + std::strerror(errno));
  reader_ = std::thread([this] { receive(); });
}

NotifySocket::~NotifySocket() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  reader_.join();
  ::close(fd_);
  ::unlink(path_.c_str());
}

void NotifySocket::receive() {
  char buf[4096];
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_) return;
    }
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const auto n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) continue;
    std::lock_guard lock(mutex_);
    messages_.emplace_back(buf, static_cast<std::size_t>(n));
    changed_.notify_all();
  }
}

std::optional<std::size_t> NotifySocket::wait_for(const std::string& line, std::chrono::milliseconds timeout,
                                                  std::size_t from) {
  std::unique_lock lock(mutex_);
  std::optional<std::size_t> found;
  changed_.wait_for(lock, timeout, [&] {
    for (std::size_t i = from; i < messages_.size(); ++i) {
      if (has_line(messages_[i], line)) {
        found = i;
        return true;
      }
    }
    return false;
  });
  return found;
}

std::vector<std::string> NotifySocket::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

std::size_t NotifySocket::count() const {
  std::lock_guard lock(mutex_);
  return messages_.size();
}

std::string NotifySocket::value(std::size_t index, const std::string& key) const {
  std::lock_guard lock(mutex_);
  std::istringstream in(messages_.at(index));
  for (std::string l; std::getline(in, l);) {
    if (l.starts_with(key + "=")) return l.substr(key.size() + 1);
  }
  return "";
}

std::string NotifySocket::dump() const {
  std::lock_guard lock(mutex_);
  std::string out;
  for (auto m : messages_) {
    for (std::size_t p; (p = m.find('\n')) != std::string::npos;) m.replace(p, 1, " | ");
    out += m + "\n";
  }
  return out;
}

}  // namespace modelgate::test
