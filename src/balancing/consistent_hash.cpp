#include "balancing/consistent_hash.h"

#include <algorithm>
#include <utility>

#include "balancing/hash_key.h"

namespace modelgate::balancing {

std::uint64_t ConsistentHash::total_weight(const ServerList& servers) {
  std::uint64_t total = 0;
  for (const auto& s : servers) total += static_cast<std::uint64_t>(std::max(1, s->spec.weight));
  return total;
}

void ConsistentHash::on_servers_changed(const MembershipChange& change) {
  const auto& servers = change.servers;
  const auto now_weight = total_weight(servers);
  const auto old_points = points_.size();
  // Below the cap every server has exactly weight x kPointsPerWeight points.
  if (!exact_ || now_weight * kPointsPerWeight > kMaxPoints) {
    *this = ConsistentHash(servers);
    return;
  }
  std::vector<std::uint32_t> now_of(servers_, MembershipChange::kAdded);
  std::vector<std::pair<std::uint64_t, std::uint32_t>> added;
  for (std::uint32_t i = 0; i < servers.size(); ++i) {
    const auto was = change.previous[i];
    if (was != MembershipChange::kAdded && was < servers_) {
      now_of[was] = i;
      continue;
    }
    const auto weight = static_cast<std::uint64_t>(std::max(1, servers[i]->spec.weight));
    for (std::uint64_t r = 0; r < weight * kPointsPerWeight; ++r) added.emplace_back(hash_bytes(servers[i]->spec.url, r), i);
  }
  auto before = [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : servers[a.second]->spec.url < servers[b.second]->spec.url;
  };
  std::sort(added.begin(), added.end(), before);
  // One pass: the kept points (already in order) merged with the added ones.
  std::vector<std::uint64_t> points;
  std::vector<std::uint32_t> owners;
  points.reserve(old_points + added.size());
  owners.reserve(old_points + added.size());
  auto next = added.begin();
  for (std::size_t k = 0; k < old_points; ++k) {
    const auto owner = now_of[owners_[k]];
    if (owner == MembershipChange::kAdded) continue;  // removed
    const std::pair<std::uint64_t, std::uint32_t> kept{points_[k], owner};
    for (; next != added.end() && before(*next, kept); ++next) {
      points.push_back(next->first);
      owners.push_back(next->second);
    }
    points.push_back(kept.first);
    owners.push_back(kept.second);
  }
  for (; next != added.end(); ++next) {
    points.push_back(next->first);
    owners.push_back(next->second);
  }
  points_ = std::move(points);
  owners_ = std::move(owners);
  servers_ = servers.size();
}

ConsistentHash::ConsistentHash(const ServerList& servers) : servers_(servers.size()) {
  const std::uint64_t total_weight = ConsistentHash::total_weight(servers);
  exact_ = total_weight * kPointsPerWeight <= kMaxPoints;
  // A server's points depend on its own weight only, so servers that stay keep every point when
  // another comes or goes. Past the cap all are scaled down, and then they do not.
  const std::uint64_t target = std::min(total_weight * kPointsPerWeight, kMaxPoints);

  std::vector<std::pair<std::uint64_t, std::uint32_t>> ring;
  ring.reserve(target + servers.size());
  for (std::uint32_t i = 0; i < servers.size(); ++i) {
    const auto weight = static_cast<std::uint64_t>(std::max(1, servers[i]->spec.weight));
    const std::uint64_t points =
        std::max<std::uint64_t>(1, (weight * target + total_weight / 2) / total_weight);
    for (std::uint64_t r = 0; r < points; ++r) ring.emplace_back(hash_bytes(servers[i]->spec.url, r), i);
  }
  // Equal positions (vanishingly rare) are ordered by URL, not list order, so all agree.
  std::sort(ring.begin(), ring.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : servers[a.second]->spec.url < servers[b.second]->spec.url;
  });
  points_.reserve(ring.size());
  owners_.reserve(ring.size());
  for (const auto& [point, owner] : ring) {
    points_.push_back(point);
    owners_.push_back(owner);
  }
}

std::size_t ConsistentHash::start(std::uint64_t key_hash) const {
  const auto h = mix64(key_hash);
  std::size_t k =
      static_cast<std::size_t>(std::lower_bound(points_.begin(), points_.end(), h) - points_.begin());
  return k == points_.size() ? 0 : k;  // past the last point: the ring wraps to the first
}

std::uint32_t ConsistentHash::pick(const PickContext& ctx) {
  const auto& c = ctx.candidates;
  if (c.size() == 1 || points_.empty()) return c.front();
  std::size_t k = start(ctx.key_hash);
  if (c.size() == servers_) return owners_[k];  // every server is a candidate
  for (std::size_t step = 0; step < points_.size(); ++step) {
    if (std::binary_search(c.begin(), c.end(), owners_[k])) return owners_[k];
    if (++k == points_.size()) k = 0;
  }
  return c.front();  // no candidate owns a point: not reachable with Pool's candidates
}

}  // namespace modelgate::balancing
