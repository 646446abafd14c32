#include "balancing/round_robin.h"

namespace modelgate::balancing {

std::uint32_t RoundRobin::pick(const PickContext& ctx) {
  // Start from the cursor's server, or the first candidate after it, so a server leaving the
  // candidate set does not shift everyone else's turn.
  const auto& c = ctx.candidates;
  std::uint32_t chosen = c.front();
  for (auto i : c) {
    if (i >= next_) {
      chosen = i;
      break;
    }
  }
  next_ = chosen + 1;
  return chosen;
}

void RoundRobin::on_servers_changed(const MembershipChange& change) {
  std::uint64_t next = 0;
  for (std::uint32_t i = 0; i < change.servers.size(); ++i) {
    const auto was = change.previous[i];
    if (was != MembershipChange::kAdded && was < next_) next = i + 1;
  }
  next_ = next;
}

}  // namespace modelgate::balancing
