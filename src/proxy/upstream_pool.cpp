#include "proxy/upstream_pool.h"

namespace modelgate::proxy {

std::unique_ptr<UpstreamConnection> UpstreamPool::take_idle(balancing::ServerState& server) {
  auto it = idle_.find(&server);
  if (it == idle_.end() || it->second.empty()) return nullptr;
  auto conn = std::move(it->second.back());
  it->second.pop_back();
  return conn;
}

std::unique_ptr<UpstreamConnection> UpstreamPool::make(balancing::ServerState& server) {
  auto conn = std::make_unique<UpstreamConnection>(ex_);
  conn->server = server.shared_from_this();
  return conn;
}

void UpstreamPool::release(std::unique_ptr<UpstreamConnection> conn) {
  auto& list = idle_[conn->server.get()];
  if (list.size() >= max_idle_) return;
  list.push_back(std::move(conn));
}

std::size_t UpstreamPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [_, list] : idle_) n += list.size();
  return n;
}

}  // namespace modelgate::proxy
