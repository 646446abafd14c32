// Encoding, checking and taking the listening sockets of a binary upgrade (listen_fds.h).
#include "net/listen_fds.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>

#include "text/percent.h"

namespace modelgate::net {

std::string encode_listen_fds(const std::vector<NamedFd>& fds) {
  std::string out;
  for (const auto& f : fds) {
    if (!out.empty()) out += ';';
    out += std::to_string(f.fd);
    out += ':';
    for (char c : f.name) {
      if (c == '%') {
        out += "%25";
      } else if (c == ';') {
        out += "%3B";
      } else {
        out += c;
      }
    }
  }
  return out;
}

std::vector<NamedFd> decode_listen_fds(std::string_view text) {
  std::vector<NamedFd> out;
  while (!text.empty()) {
    const auto end = text.find(';');
    const auto entry = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    const auto colon = entry.find(':');
    if (colon == std::string_view::npos || colon + 1 == entry.size()) continue;
    int fd = -1;
    auto [ptr, ec] = std::from_chars(entry.data(), entry.data() + colon, fd);
    if (ec != std::errc{} || ptr != entry.data() + colon || fd < 0) continue;
    out.push_back({fd, text::percent_decode(entry.substr(colon + 1))});
  }
  return out;
}

std::optional<tcp::endpoint> listening_endpoint(int fd) {
  int listening = 0;
  socklen_t len = sizeof listening;
  if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) return std::nullopt;
  sockaddr_storage addr{};
  len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return std::nullopt;
  if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) return std::nullopt;
  tcp::endpoint endpoint;
  std::memcpy(endpoint.data(), &addr, std::min<std::size_t>(len, endpoint.capacity()));
  endpoint.resize(len);
  return endpoint;
}

InheritedListeners InheritedListeners::from_environment() {
  const char* value = std::getenv(kListenFdsEnv);
  if (!value) return {};
  auto fds = decode_listen_fds(value);
  ::unsetenv(kListenFdsEnv);
  std::vector<NamedFd> kept;
  for (auto& f : fds) {
    if (::fcntl(f.fd, F_SETFD, FD_CLOEXEC) != 0) continue;  // not open: nothing to take
    kept.push_back(std::move(f));
  }
  return InheritedListeners(std::move(kept));
}

InheritedListeners::~InheritedListeners() {
  for (const auto& f : fds_) ::close(f.fd);
}

bool InheritedListeners::matches(const NamedFd& f, std::string_view name, const tcp::endpoint& want) {
  if (f.name != name) return false;
  auto bound = listening_endpoint(f.fd);
  return bound && bound->address() == want.address() && (want.port() == 0 || bound->port() == want.port());
}

int InheritedListeners::take(std::string_view name, const tcp::endpoint& want) {
  auto it = std::find_if(fds_.begin(), fds_.end(), [&](const NamedFd& f) { return matches(f, name, want); });
  if (it == fds_.end()) return -1;
  const int fd = it->fd;
  fds_.erase(it);
  return fd;
}

std::size_t InheritedListeners::count(std::string_view name, const tcp::endpoint& want) const {
  return std::count_if(fds_.begin(), fds_.end(), [&](const NamedFd& f) { return matches(f, name, want); });
}

void InheritedListeners::close_rest() {
  for (const auto& f : fds_) {
    auto bound = listening_endpoint(f.fd);
    spdlog::warn(
        "binary upgrade: the inherited listener \"{}\" ({}) matches no entry point of the configuration "
        "(by name and address); closing it",
        f.name, bound ? fmt::format("{}:{}", bound->address().to_string(), bound->port()) : "not a socket");
    ::close(f.fd);
  }
  fds_.clear();
}

}  // namespace modelgate::net
