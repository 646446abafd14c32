#include "tenancy/lease.h"

#include <algorithm>

namespace modelgate::tenancy {

std::uint64_t lease_request(std::uint64_t limit, std::uint64_t left_plus1, std::uint64_t gateways,
                            std::uint64_t lacking) {
  const std::uint64_t left = left_plus1 == 0 ? limit : std::min(limit, left_plus1 - 1);
  const std::uint64_t parts = 2 * std::max<std::uint64_t>(1, gateways);
  const std::uint64_t share = (left + parts - 1) / parts;
  return std::min(limit, std::max({share, lacking, std::uint64_t{1}}));
}

}  // namespace modelgate::tenancy
