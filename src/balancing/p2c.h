// p2c: power of two random choices. Draw two distinct candidates at random, send the request to
// the one with fewer requests in flight per unit of weight.
//
// Mitzenmacher showed that comparing just two random choices brings the most loaded server's
// excess down from O(log n / log log n) (one random choice) to O(log log n): nearly all of
// least_request's benefit for two counter reads per pick instead of one per candidate. "The Power
// of Two Random Choices: A Survey of Techniques and Results",
// https://www.eecs.harvard.edu/~michaelm/postscripts/handbook2001.pdf
// (Envoy's least_request_lb.h links the same paper.) The randomness also avoids least_request's
// herd: when many balancers see the same stale counters they all pick the same "least loaded"
// server, while two random samples rarely coincide.
//
// Weights: the two candidates are drawn in proportion to weight (uniformly, O(1), when all weights
// are equal; otherwise a walk over the candidates), and compared by inflight * weight
// cross-multiplied like least_request. On a tie the first draw wins, so an idle pool is shared
// exactly by weight.
//
// Cost: O(1) with equal weights. The pool hands over its kept candidate list (pool.h), so a pick
// with nothing tried costs about 40-50 ns at 64 and at 1 024 servers, against least_request's
// 0.24 and 3.1 us; a retry adds the pool's one pass over the candidates (1.6 us at 1 024)
// (test/micro/pick_benchmark.cpp, docs/scheduling.md).
//
// Pick it for large pools (dozens of servers or more), or when several modelgate processes share
// servers; on a handful of servers in one process least_request is as cheap and exact.
#pragma once

#include "balancing/balancer.h"
#include "balancing/random.h"

namespace modelgate::balancing {

class P2C final : public Balancer {
 public:
  P2C(const ServerList& servers, std::uint64_t seed) : servers_(servers), weights_(servers), rng_(seed) {}
  std::uint32_t pick(const PickContext& ctx) override;
  void on_servers_changed(const MembershipChange& change) override {
    servers_ = change.servers;
    weights_ = Weights(servers_);
  }

 private:
  ServerList servers_;
  Weights weights_;
  Rng rng_;
};

}  // namespace modelgate::balancing
