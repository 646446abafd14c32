// random: a candidate drawn at random, in proportion to its weight.
//
// No state shared between picks or workers, so nothing to coordinate and nothing that goes stale;
// over many requests each server's share converges on weight / total weight. It ignores load, so
// short bursts are lumpy (two long generations may land on the same server by chance), and it
// ignores the key, so a client is not sticky. Pick it for a large fleet of alike servers behind
// many workers or balancers, where round robin's cursors all start on the first server after each
// start or reload; prefer p2c whenever request cost varies (it does for LLM traffic), it costs one
// comparison more.
//
// Also home to what the other random and hashing strategies share: the generator (splitmix64,
// Steele, Lea & Flood 2014: one add and a finaliser per draw, passes BigCrush, seeded per worker
// through BalancerOptions) and the weighted walk over candidates. Draws are scaled into a range by
// Lemire's multiply-shift, with no division.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "balancing/balancer.h"

namespace modelgate::balancing {

// floor(x * n / 2^64): maps a uniform 64-bit x onto [0, n) without dividing.
inline std::uint64_t scale_to(std::uint64_t x, std::uint64_t n) {
  __extension__ using u128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<u128>(x) * n) >> 64);
}

class Rng {
 public:
  explicit Rng(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() { return mix_splitmix(state_ += 0x9e3779b97f4a7c15ULL); }
  std::uint64_t below(std::uint64_t n) { return scale_to(next(), n); }  // uniform in [0, n)

 private:
  static std::uint64_t mix_splitmix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  std::uint64_t state_;
};

// Per-server weights as the weighted strategies use them: at least 1 (Pool never offers a weight-0
// server; the floor keeps the arithmetic sane for direct callers).
struct Weights {
  explicit Weights(const ServerList& servers);
  std::vector<std::int64_t> of;  // indexed like the server list
  bool uniform = true;           // all equal: a draw needs no walk over the candidates

  std::int64_t total(std::span<const std::uint32_t> candidates, std::uint32_t skip = kNone) const {
    std::int64_t t = 0;
    for (auto i : candidates) t += i == skip ? 0 : of[i];
    return t;
  }
  // The candidate whose slice of [0, total) holds r, r < total(candidates, skip).
  std::uint32_t at(std::span<const std::uint32_t> candidates, std::uint64_t r,
                   std::uint32_t skip = kNone) const {
    for (auto i : candidates) {
      if (i == skip) continue;
      const auto w = static_cast<std::uint64_t>(of[i]);
      if (r < w) return i;
      r -= w;
    }
    return candidates.back();  // unreachable while r < total
  }

  static constexpr std::uint32_t kNone = UINT32_MAX;
};

class Random final : public Balancer {
 public:
  Random(const ServerList& servers, std::uint64_t seed) : weights_(servers), rng_(seed) {}
  std::uint32_t pick(const PickContext& ctx) override;
  void on_servers_changed(const MembershipChange& change) override { weights_ = Weights(change.servers); }

 private:
  Weights weights_;
  Rng rng_;
};

}  // namespace modelgate::balancing
