// consistent_hash: a hash ring, so that when a server comes or goes only its own keys move.
//
// Each server is placed on a 64-bit ring at 160 points per unit of weight (virtual nodes, as
// ketama and nginx `hash $key consistent`), each point the hash of the server's URL and a replica
// index. A request's key hash (hash_key.h) is looked up by binary search for the first point
// clockwise from it; points of servers that are not candidates (unhealthy, draining, backup,
// already tried) are walked past. So a server leaving the candidates hands each of its keys to
// the next server clockwise, spread over everyone by its many points, and no other key moves:
// removing one of n servers moves ~1/n of the keys, adding one takes ~1/(n+1). A server's points
// depend only on its URL and weight, so every worker and every process with the same servers maps
// a key alike, whatever the order of the list.
//
// The ring is built once per worker (sorted vector) when the service is first loaded and then
// kept: discovery and health changes do not touch it, and a server added or removed has only its
// own points inserted or taken out (one merge, O(points)); a pick is O(log points) plus a short walk. Arcs are random, so a server's share of keys strays from its
// weight's share by about 1/sqrt(points): ~7% of its share at weight 1 (0.25 +- 0.02 among four),
// ~3% at weight 5. Giving every server the same larger weight (say 10) evens shares at the cost of
// a larger ring. The ring is capped at 40 960 points (total weight 256): past it, points are scaled
// down with the total weight, ratios kept, but then a server added or removed changes every
// server's point count and moves more than its own keys.
//
// Pick it for stickiness that must survive pool changes: a user's or conversation's requests
// (hashKey: header:X-Session-Id, cookie:NAME or body:user) keep reaching the server holding their
// prefix (KV) cache through scaling and health flaps. Like ip_hash it ignores load: a hot key makes
// a hot server.
#pragma once

#include <algorithm>
#include <vector>

#include "balancing/balancer.h"

namespace modelgate::balancing {

class ConsistentHash final : public Balancer {
 public:
  static constexpr std::uint64_t kPointsPerWeight = 160;
  static constexpr std::uint64_t kMaxPoints = 160 * 256;  // 480 KiB of ring per worker

  explicit ConsistentHash(const ServerList& servers);
  std::uint32_t pick(const PickContext& ctx) override;
  // Takes out the points of removed servers and merges in those of added ones; a full rebuild
  // only when the ring is past its cap (every server's point count changes then).
  void on_servers_changed(const MembershipChange& change) override;

  std::size_t ring_size() const { return points_.size(); }

  // The first candidate clockwise from the key's point that admit(index) accepts; failing that,
  // the key's own owner (session's bounded loads).
  template <class Admit>
  std::uint32_t walk(const PickContext& ctx, Admit&& admit) const {
    const auto& c = ctx.candidates;
    if (points_.empty()) return c.front();
    std::size_t k = start(ctx.key_hash);
    std::uint32_t first = UINT32_MAX;
    for (std::size_t step = 0; step < points_.size(); ++step, k = k + 1 == points_.size() ? 0 : k + 1) {
      const auto owner = owners_[k];
      if (owner == first || !std::binary_search(c.begin(), c.end(), owner)) continue;
      if (first == UINT32_MAX) first = owner;
      if (admit(owner)) return owner;
    }
    return first == UINT32_MAX ? c.front() : first;
  }

 private:
  std::size_t start(std::uint64_t key_hash) const;  // the key's first point clockwise
  static std::uint64_t total_weight(const ServerList& servers);
  bool exact_ = true;  // below the cap: every server has weight x kPointsPerWeight points

  std::vector<std::uint64_t> points_;  // ring positions, ascending
  std::vector<std::uint32_t> owners_;  // owners_[k]: server index of points_[k]
  std::size_t servers_ = 0;
};

}  // namespace modelgate::balancing
