#include "balancing/least_request.h"

#include <algorithm>

namespace modelgate::balancing {

LeastRequest::LeastRequest(const ServerList& servers)
    : servers_(servers), weights_(servers), load_(servers.size(), 0), current_(servers.size(), 0) {}

void LeastRequest::on_servers_changed(const MembershipChange& change) {
  servers_ = change.servers;
  weights_ = Weights(servers_);
  load_.assign(servers_.size(), 0);
  current_ = remapped(current_, change, std::int64_t{0});
}

std::uint32_t LeastRequest::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  const auto& w = weights_.of;
  if (c.size() == 1) return c.front();

  // Pass 1: the lowest load per weight, and how many share it. Each counter is read once, so the
  // second pass sees the same numbers even while other workers change them.
  std::uint32_t best = c.front();
  std::size_t ties = 0;
  for (auto i : c) {
    load_[i] = std::max(0, servers_[i]->inflight.load(std::memory_order_relaxed));
    const auto mine = load_[i] * w[best];
    const auto theirs = load_[best] * w[i];
    if (i == best) {
      ties = 1;
    } else if (mine < theirs) {
      best = i;
      ties = 1;
    } else if (mine == theirs) {
      ++ties;
    }
  }
  if (ties == 1) return best;

  // Pass 2: smooth weighted round robin among the tied.
  std::int64_t total = 0;
  std::uint32_t chosen = best;
  for (auto i : c) {
    if (load_[i] * w[best] != load_[best] * w[i]) continue;
    current_[i] += w[i];
    total += w[i];
    if (current_[i] > current_[chosen]) chosen = i;
  }
  current_[chosen] -= total;
  return chosen;
}

}  // namespace modelgate::balancing
