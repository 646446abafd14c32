// round_robin: each candidate in turn. Cheapest pick; right when servers are alike and requests
// are of similar cost. Each worker keeps its own cursor, so with N workers the global order
// interleaves but every server still gets an equal share.
#pragma once

#include "balancing/balancer.h"

namespace modelgate::balancing {

class RoundRobin final : public Balancer {
 public:
  std::uint32_t pick(const PickContext& ctx) override;
  // The turn stays where it was: after the last server before the cursor that stays.
  void on_servers_changed(const MembershipChange& change) override;

 private:
  std::uint64_t next_ = 0;
};

}  // namespace modelgate::balancing
