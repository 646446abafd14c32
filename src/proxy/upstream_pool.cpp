#include "proxy/upstream_pool.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

namespace modelgate::proxy {

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle(balancing::ServerState& server,
                                                            Clock::time_point now) {
  auto it = idle_.find(&server);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto& list = it->second;
  if (list.back()->expires <= now) {
    // The newest has expired: so have the others (released earlier with the same idle time; after
    // a reload that changed idleConnection, sweep() sorts them out).
    list.clear();
    return nullptr;
  }
  auto conn = std::move(list.back());
  list.pop_back();
  return conn;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::make(balancing::ServerState& server) {
  auto conn = std::make_unique<UpstreamConnection>(ex_);
  conn->server = server.shared_from_this();
  return conn;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn, Clock::duration idle,
                           Clock::time_point now) {
  if (idle <= Clock::duration::zero()) return;
  auto& list = idle_[conn->server.get()];
  if (list.size() >= max_idle_) return;
  conn->expires = now + idle;
  list.push_back(std::move(conn));
}

namespace {

// An idle connection is unusable once the server closed it (end-of-file), reset it, or sent
// anything at all (no request is outstanding). One non-blocking peek, no byte consumed.
bool closed_by_server(net::Stream& stream) {
  net::Socket& socket = stream.socket();
  char byte;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

void UpstreamPool::sweep(Clock::time_point now) {
  for (auto& [_, list] : idle_) {
    std::erase_if(list,
                  [now](const auto& conn) { return conn->expires <= now || closed_by_server(conn->socket); });
  }
}

std::size_t UpstreamPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [_, list] : idle_) n += list.size();
  return n;
}

}  // namespace modelgate::proxy
