#include "balancing/random.h"

#include <algorithm>

namespace modelgate::balancing {

Weights::Weights(const ServerList& servers) {
  of.reserve(servers.size());
  for (const auto& s : servers) {
    of.push_back(std::max(1, s->spec.weight));
    uniform = uniform && of.back() == of.front();
  }
}

std::uint32_t Random::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  if (c.size() == 1) return c.front();
  if (weights_.uniform) return c[rng_.below(c.size())];
  const auto total = static_cast<std::uint64_t>(weights_.total(c));
  return weights_.at(c, rng_.below(total));
}

}  // namespace modelgate::balancing
