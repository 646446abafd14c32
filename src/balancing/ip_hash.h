// ip_hash: the same key goes to the same server, as long as the candidates do not change.
//
// The request's key hash (the client IP by default, see hash_key.h for header, cookie and body
// keys) is mixed, scaled onto [0, total weight of the candidates) by multiply-shift, and the
// candidate owning that slice is chosen: a stateless O(n) walk, O(1) when weights are equal, the
// same answer in every worker and every process with the same server list. Shares follow the
// weights over many keys.
//
// Its weakness is remapping: when a candidate comes or goes (a server added, removed, unhealthy,
// drained, or already tried by a retry) the slices shift and most keys move, not just the lost
// server's. That is harmless when stickiness is an optimisation, such as a warm prefix (KV) cache
// on the server that served a conversation before, and the pool is stable. When servers change
// often or a moved key is expensive, pick consistent_hash: only ~1/n of keys move. Stickiness
// also defeats load balancing: one busy client (or many behind one NAT address) loads one server.
#pragma once

#include "balancing/balancer.h"
#include "balancing/random.h"

namespace modelgate::balancing {

class IpHash final : public Balancer {
 public:
  explicit IpHash(const ServerList& servers) : weights_(servers) {}
  std::uint32_t pick(const PickContext& ctx) override;
  void on_servers_changed(const MembershipChange& change) override { weights_ = Weights(change.servers); }

 private:
  Weights weights_;
};

}  // namespace modelgate::balancing
