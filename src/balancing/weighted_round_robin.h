// weighted_round_robin: nginx's smooth weighted round robin.
//
// Every pick adds each candidate's weight to its running score, chooses the highest score and
// subtracts the total weight from the winner. Weights 5,1,1 give a a b a c a a: the heavy server's
// turns are spread out instead of bunched, and equal weights reduce to plain round robin. Right
// when machines differ in capacity (GPU count, model size) by a known ratio.
#pragma once

#include <vector>

#include "balancing/balancer.h"

namespace modelgate::balancing {

class WeightedRoundRobin final : public Balancer {
 public:
  explicit WeightedRoundRobin(std::vector<int> weights);
  std::uint32_t pick(const PickContext& ctx) override;
  // Scores of the servers that stay are kept; a new server starts at 0.
  void on_servers_changed(const MembershipChange& change) override;

 private:
  std::vector<int> weights_;
  std::vector<long> current_;
};

}  // namespace modelgate::balancing
