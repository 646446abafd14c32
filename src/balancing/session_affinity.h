// session: requests with the same key (a session or conversation id) reach the same server, so
// the server that holds the conversation's KV cache serves its next turn — but no server takes
// more than loadFactor (c) times its share of the load.
//
// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam, "Consistent Hashing with
// Bounded Loads", SODA 2018, https://arxiv.org/abs/1608.01350; the scheme behind HAProxy's
// hash-balance-factor): the key is looked up on consistent_hash's ring, and the walk clockwise
// stops at the first candidate whose in-flight count, with this request, stays within
// ceil(c x share), share = (total in flight + 1) x weight / total weight, or within
// share + kSlack. At least one server is always under that cap, so the walk ends; a key moves off
// its home only while the home is over the cap, and then always to the same next server, so a
// busy session moves as a whole instead of scattering, and comes back when the home server
// drains. c = 1.25 (the default) keeps every loaded server within 25 % of the average; c close to
// 1 balances more and keeps fewer sessions home.
//
// The slack: at low load the multiplicative cap alone is 1 or 2 requests (with three in flight
// over four servers, ceil(1.25 x 4 / 4) = 2: a home with two moves), so conversations leave home
// when nothing is overloaded — an engine batches a few more sequences at little cost. Worse, each
// gateway of several behind one address counts only its own requests, so at low load their caps
// part and one gateway moves a conversation the other keeps. kSlack = 2 requests above the share
// keeps a conversation home until its server is really busier than the rest; under load (shares
// above 8) the multiplicative cap is the larger, and the bound is Mirrokni's.
//
// The key is `hashKey`, header:X-Session-ID unless set (a request without it is keyed by its
// client IP, as with consistent_hash). In-flight counts are the shared atomics of ServerState,
// read once per candidate per pick: O(candidates + walk).
#pragma once

#include <vector>

#include "balancing/balancer.h"
#include "balancing/consistent_hash.h"
#include "balancing/random.h"

namespace modelgate::balancing {

class SessionAffinity final : public Balancer {
 public:
  static constexpr double kSlack = 2;

  SessionAffinity(const ServerList& servers, const BalancerOptions& options);
  std::uint32_t pick(const PickContext& ctx) override;
  void on_servers_changed(const MembershipChange& change) override;

 private:
  ServerList servers_;
  ConsistentHash ring_;
  Weights weights_;
  double load_factor_;
  std::vector<std::int64_t> load_;  // scratch: in-flight counts read once per pick
};

}  // namespace modelgate::balancing
