// The explicit table of strategies. No self-registration: a static initialiser in a static library
// is dropped by the linker when nothing references its object file.
#include <array>
#include <chrono>
#include <functional>
#include <random>
#include <thread>

#include "balancing/balancer.h"
#include "balancing/cache_aware.h"
#include "balancing/consistent_hash.h"
#include "balancing/hash_key.h"
#include "balancing/ip_hash.h"
#include "balancing/least_load.h"
#include "balancing/least_request.h"
#include "balancing/p2c.h"
#include "balancing/random.h"
#include "balancing/round_robin.h"
#include "balancing/session_affinity.h"
#include "balancing/weighted_round_robin.h"

namespace modelgate::balancing {

namespace {

std::vector<int> weights_of(const ServerList& servers) {
  std::vector<int> w;
  w.reserve(servers.size());
  for (const auto& s : servers) w.push_back(s->spec.weight);
  return w;
}

std::uint64_t thread_seed() {
  std::uint64_t seed =
      static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  seed ^= mix64(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  try {
    std::random_device device;
    seed ^= (std::uint64_t{device()} << 32) | device();
  } catch (const std::exception&) {
    // No entropy source: the clock and the thread id still tell workers apart.
  }
  return seed;
}

}  // namespace

std::uint64_t fresh_seed() {
  thread_local Rng rng(thread_seed());
  return rng.next();
}

std::unique_ptr<Balancer> make_balancer(std::string_view name, const ServerList& servers,
                                        const BalancerOptions& options) {
  if (name == "round_robin") return std::make_unique<RoundRobin>();
  if (name == "weighted_round_robin") return std::make_unique<WeightedRoundRobin>(weights_of(servers));
  if (name == "least_request") return std::make_unique<LeastRequest>(servers);
  if (name == "p2c") return std::make_unique<P2C>(servers, options.seed);
  if (name == "random") return std::make_unique<Random>(servers, options.seed);
  if (name == "ip_hash") return std::make_unique<IpHash>(servers);
  if (name == "consistent_hash") return std::make_unique<ConsistentHash>(servers);
  if (name == "session") return std::make_unique<SessionAffinity>(servers, options);
  if (name == "least_load") return std::make_unique<LeastLoad>(servers, options);
  if (name == "cache_aware") return std::make_unique<CacheAware>(servers, options);
  return nullptr;
}

BalancerOptions options_for(const config::LoadBalancer& lb) {
  BalancerOptions o;
  o.load_factor = lb.loadFactor;
  o.balance_abs = lb.cacheAware.balanceAbsThreshold;
  o.balance_rel = lb.cacheAware.balanceRelThreshold;
  o.new_prefix_slack = lb.cacheAware.newPrefixSlack;
  o.metrics_max_age_ns =
      3 * std::chrono::duration_cast<std::chrono::nanoseconds>(lb.serverMetrics.interval).count();
  return o;
}

bool same_balancing(const config::LoadBalancer& a, const config::LoadBalancer& b) {
  return a.strategy == b.strategy && a.hashKey == b.hashKey && a.hashKeySet == b.hashKeySet &&
         a.loadFactor == b.loadFactor && a.cacheAware == b.cacheAware &&
         a.serverMetrics.interval == b.serverMetrics.interval;
}

bool wants_prompt(std::string_view strategy) { return strategy == "cache_aware"; }

std::span<const std::string_view> strategy_names() { return config::kStrategies; }

}  // namespace modelgate::balancing
