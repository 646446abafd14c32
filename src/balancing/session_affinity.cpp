#include "balancing/session_affinity.h"

#include <algorithm>
#include <cmath>

namespace modelgate::balancing {

SessionAffinity::SessionAffinity(const ServerList& servers, const BalancerOptions& options)
    : servers_(servers),
      ring_(servers),
      weights_(servers),
      load_factor_(options.load_factor),
      load_(servers.size(), 0) {}

void SessionAffinity::on_servers_changed(const MembershipChange& change) {
  servers_ = change.servers;
  ring_.on_servers_changed(change);
  weights_ = Weights(servers_);
  load_.assign(servers_.size(), 0);
}

std::uint32_t SessionAffinity::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  if (c.size() == 1) return c.front();
  std::int64_t total = 1;  // this request
  for (auto i : c) {
    load_[i] = std::max(0, servers_[i]->inflight.load(std::memory_order_relaxed));
    total += load_[i];
  }
  const double share_per_weight = static_cast<double>(total) / static_cast<double>(weights_.total(c));
  return ring_.walk(ctx, [&](std::uint32_t i) {
    const double share = share_per_weight * static_cast<double>(weights_.of[i]);
    const double cap = std::max(std::ceil(load_factor_ * share), share + kSlack);
    return static_cast<double>(load_[i] + 1) <= cap;
  });
}

}  // namespace modelgate::balancing
