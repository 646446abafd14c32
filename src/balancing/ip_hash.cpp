#include "balancing/ip_hash.h"

#include "balancing/hash_key.h"

namespace modelgate::balancing {

std::uint32_t IpHash::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  if (c.size() == 1) return c.front();
  // Mixed again so that a weak key_hash (a small integer, say) still spreads evenly.
  const auto h = mix64(ctx.key_hash);
  if (weights_.uniform) return c[scale_to(h, c.size())];
  return weights_.at(c, scale_to(h, static_cast<std::uint64_t>(weights_.total(c))));
}

}  // namespace modelgate::balancing
