#include "balancing/p2c.h"

#include <algorithm>

namespace modelgate::balancing {

std::uint32_t P2C::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  if (c.size() == 1) return c.front();

  std::uint32_t a, b;
  if (weights_.uniform) {
    // Two distinct positions: the second is drawn from the n-1 others.
    const auto x = rng_.below(c.size());
    auto y = rng_.below(c.size() - 1);
    if (y >= x) ++y;
    a = c[x];
    b = c[y];
  } else {
    const auto total = static_cast<std::uint64_t>(weights_.total(c));
    a = weights_.at(c, rng_.below(total));
    b = weights_.at(c, rng_.below(total - static_cast<std::uint64_t>(weights_.of[a])), a);
  }

  const auto& w = weights_.of;
  const std::int64_t load_a = std::max(0, servers_[a]->inflight.load(std::memory_order_relaxed));
  const std::int64_t load_b = std::max(0, servers_[b]->inflight.load(std::memory_order_relaxed));
  return load_b * w[a] < load_a * w[b] ? b : a;
}

}  // namespace modelgate::balancing
