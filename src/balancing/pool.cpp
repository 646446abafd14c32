#include "balancing/pool.h"

#include <algorithm>

namespace modelgate::balancing {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

Pool::Pool(ServerList servers, std::unique_ptr<Balancer> balancer) : balancer_(std::move(balancer)) {
  set_servers(std::move(servers));
}

void Pool::set_servers(ServerList servers) {
  if (balancer_ && !servers_.empty()) {
    std::vector<std::uint32_t> previous(servers.size(), MembershipChange::kAdded);
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (auto it = index_of_.find(servers[i].get()); it != index_of_.end()) previous[i] = it->second;
    }
    balancer_->on_servers_changed({servers, previous});
  }
  servers_ = std::move(servers);
  index_of_.clear();
  for (std::uint32_t i = 0; i < servers_.size(); ++i) index_of_.emplace(servers_[i].get(), i);
  all_.epoch = 0;
  by_allowed_.clear();
  scratch_.reserve(servers_.size());
}

Pool::CandidateSet& Pool::candidates_for(const PickRequest& request, std::int64_t now_ns) {
  CandidateSet& set = request.restrict_to_allowed ? by_allowed_[request.allowed.data()] : all_;
  if (set.epoch != membership_epoch().load(std::memory_order_acquire) || now_ns >= set.valid_until_ns) {
    compute(set, request, now_ns);
  }
  return set;
}

void Pool::compute(CandidateSet& set, const PickRequest& request, std::int64_t now_ns) {
  // The epoch first: a change after this read bumps it again, and the next pick recomputes.
  set.epoch = membership_epoch().load(std::memory_order_acquire);
  set.valid_until_ns = INT64_MAX;
  set.limited = false;
  for (auto& tier : set.tiers) tier.clear();
  auto consider = [&](std::uint32_t i) {
    const ServerState& s = *servers_[i];
    if (s.spec.drain || s.spec.weight <= 0 || s.draining.load(relaxed)) return;
    const bool backup = s.spec.backup;
    set.tiers[backup ? any_backup : any_primary].push_back(i);
    set.limited = set.limited || s.spec.maxConnections > 0;
    if (!s.healthy.load(relaxed)) return;
    if (const std::int64_t until = s.ejected_until_ns.load(relaxed); until > now_ns) {
      set.valid_until_ns = std::min(set.valid_until_ns, until);
      return;
    }
    set.tiers[backup ? up_backup : up_primary].push_back(i);
  };
  if (!request.restrict_to_allowed) {
    for (std::uint32_t i = 0; i < servers_.size(); ++i) consider(i);
    return;
  }
  // The allowed servers that are this pool's (a model's list spans every service), ascending.
  std::vector<std::uint32_t> members;
  members.reserve(request.allowed.size());
  for (const ServerState* s : request.allowed) {
    if (auto it = index_of_.find(s); it != index_of_.end()) members.push_back(it->second);
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  for (auto i : members) consider(i);
}

std::span<const std::uint32_t> Pool::usable(std::span<const std::uint32_t> tier, const PickRequest& request,
                                            bool limited, std::size_t& busy) {
  if ((!request.tried || request.tried->empty()) && !limited) return tier;
  scratch_.clear();
  for (auto i : tier) {
    const ServerState& s = *servers_[i];
    if (was_tried(request, i)) continue;
    if (s.spec.maxConnections > 0 && s.inflight.load(relaxed) >= s.spec.maxConnections) {
      ++busy;
      continue;
    }
    scratch_.push_back(i);
  }
  return scratch_;
}

PickResult Pool::pick_at(const PickRequest& request, std::int64_t now_ns) {
  const CandidateSet& set = candidates_for(request, now_ns);
  std::size_t busy = 0;
  for (int tier = up_primary; tier < kTiers; ++tier) {
    const auto candidates = usable(set.tiers[tier], request, set.limited, busy);
    if (!candidates.empty()) {
      const auto chosen = balancer_->pick({candidates, request.key_hash, request.prompt, request.note});
      return {servers_[chosen].get(), false, tier >= any_primary, chosen};
    }
    // Servers at their maxConnections are waited for, not passed over for the next tier.
    if (busy > 0) break;
  }
  return {nullptr, busy > 0, false};
}

}  // namespace modelgate::balancing
