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

}  // namespace modelgate::balancing
