#include "balancing/weighted_round_robin.h"

namespace modelgate::balancing {

WeightedRoundRobin::WeightedRoundRobin(std::vector<int> weights)
    : weights_(std::move(weights)), current_(weights_.size(), 0) {}

void WeightedRoundRobin::on_servers_changed(const MembershipChange& change) {
  weights_.clear();
  for (const auto& s : change.servers) weights_.push_back(s->spec.weight);
  current_ = remapped(current_, change, 0L);
}

std::uint32_t WeightedRoundRobin::pick(const PickContext& ctx) {
  long total = 0;
  std::uint32_t best = ctx.candidates.front();
  long best_score = 0;
  bool first = true;
  for (auto i : ctx.candidates) {
    current_[i] += weights_[i];
    total += weights_[i];
    if (first || current_[i] > best_score) {
      best = i;
      best_score = current_[i];
      first = false;
    }
  }
  current_[best] -= total;
  return best;
}

}  // namespace modelgate::balancing
