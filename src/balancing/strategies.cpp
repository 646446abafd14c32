// The explicit table of strategies. No self-registration: a static initialiser in a static library
// is dropped by the linker when nothing references its object file.
#include <array>

#include "balancing/balancer.h"
#include "balancing/round_robin.h"
#include "balancing/weighted_round_robin.h"

namespace modelgate::balancing {

namespace {

std::vector<int> weights_of(const ServerList& servers) {
  std::vector<int> w;
  w.reserve(servers.size());
  for (const auto& s : servers) w.push_back(s->spec.weight);
  return w;
}

constexpr std::array<std::string_view, 2> kNames = {"round_robin", "weighted_round_robin"};

}  // namespace

std::unique_ptr<Balancer> make_balancer(std::string_view name, const ServerList& servers) {
  if (name == "round_robin") return std::make_unique<RoundRobin>();
  if (name == "weighted_round_robin") return std::make_unique<WeightedRoundRobin>(weights_of(servers));
  return nullptr;
}

std::span<const std::string_view> strategy_names() { return kNames; }

}  // namespace modelgate::balancing
