// cache_aware: the server with the lowest expected time to first token for this prompt.
//
// For each candidate: how many leading blocks of the prompt's hash chain (prompt_chain.h) its
// prefix index (prefix_index.h) holds, hence how many of the prompt's tokens it would have to
// prefill; plus the prefill work already queued on it; over its learned prefill rate
// (cost_model.h). The cheapest wins; among equals the least loaded, then the one that took the
// fewest of the recent picks, then a rotation. The chosen
// server's index then records the whole chain: the next request sharing the prefix finds it there
// even before this one's answer (SGLang's router inserts at routing time too).
//
// A prompt no candidate holds goes where every gateway would put it: rendezvous hashing
// (rendezvous.h) of its first kPlacementBlocks blocks (256 tokens) among the candidates the guards
// below allow. Gateways that split a fleet's traffic (DNS round robin, a virtual IP) and never
// talk to each other thus place a new prefix on the same server, and a prefix one of them has
// seen is found by the other where the first put it: they agree without sharing state. What a
// gateway cannot know is the others' load, so the guards may differ between them (see
// docs/scheduling.md, "Several gateways"). Prompts that share fewer than kPlacementBlocks blocks
// are placed independently (a short common preamble is cheap to prefill everywhere); prompts
// shorter than that are placed by their whole text. Neither the learned rates (which carry each
// server's past queueing) nor small differences of load steer a new prefix; a prompt of less
// than one block goes to the least loaded server, as least_request would. One exception keeps a
// skewed fleet level: while some allowed server took less than 1/loadFactor of the average share
// of recent picks (and kShareSlack picks less), new prefixes go to the best-scoring of those
// under-used servers. Hash placement alone gives a server that holds no hot prefix only its
// random part of the new ones, and nothing would fill it; gateways splitting the same traffic
// see the same skew, so they mostly agree on this too.
//
// Hot spots. Pure affinity piles a popular prefix onto one server. SGLang's router switches the
// whole fleet to shortest-queue once loads differ by more than absolute and relative thresholds,
// throwing every affinity away. Here only the overloaded server loses its cache credit, by two
// guards, each costing the server as if it had nothing cached so new requests flow to others
// (which then cache the hot prefix too) while every other server keeps its affinity:
// - load: its in-flight count exceeds the least loaded candidate's by more than
//   balanceAbsThreshold and by a factor of more than balanceRelThreshold;
// - share: it took more than loadFactor times the average share of this balancer's recent picks
//   (a window of about kShareWindow picks, decayed exponentially) and kShareSlack picks more than
//   the average. This is the one that matters at moderate load, where in-flight counts stay low
//   but one server still serves a popular prefix for everyone: consistent hashing with bounded
//   loads, applied to cache credit rather than to a ring.
// Since the cost already includes queued work, a prefix hit is worth a longer queue only up to the
// prefill time it saves, and the guards cap even that.
//
// Feedback (forward.cpp through PickNote): the tokens charged to the server's queue are given back
// when the request ends; a streamed answer's TTFT teaches the server's prefill rate; the answer's
// cached_tokens checks the prediction (prediction_check.h).
//
// Cost: the chain is built once per request (about 1-2 us for 8 KB, only for services using this
// strategy); the pick does a binary search of the chain per candidate (log2(blocks) probes of one
// cache line each), for a new prefix one hash and one log per allowed candidate, and inserts the
// chain into one index.
#pragma once

#include <vector>

#include "balancing/balancer.h"

namespace modelgate::balancing {

class CacheAware final : public Balancer {
 public:
  CacheAware(const ServerList& servers, const BalancerOptions& options);
  std::uint32_t pick(const PickContext& ctx) override;
  // The prefix indexes live in the servers' state (llm_state.h): nothing to carry over here.
  void on_servers_changed(const MembershipChange& change) override;

  // A new prefix is placed by its first this many blocks (prompt_chain.h): 256 tokens.
  static constexpr std::size_t kPlacementBlocks = 16;
  // ... unless its home has more than this many requests in flight above the least loaded server.
  static constexpr int kNewPrefixSlack = 2;

 private:
  // Recent picks: server i's weight is recent_[i] / step_, where every pick multiplies step_ by
  // 1 / (1 - 1/kShareWindow) instead of decaying every entry (renormalised before it overflows).
  static constexpr double kShareWindow = 64;
  static constexpr double kShareSlack = 4;
  bool over_share(std::uint32_t server, double mean) const;
  bool under_share(std::uint32_t server, double mean) const;
  void count_pick(std::uint32_t server);
  void hash_urls();

  ServerList servers_;
  int balance_abs_;
  double balance_rel_;
  double load_factor_;
  double step_ = 1;
  std::vector<double> recent_;
  std::uint32_t turn_ = 0;               // rotation among equals
  std::vector<std::uint64_t> matched_;   // scratch: cached tokens per candidate
  std::vector<int> inflight_;            // scratch: in-flight counts read once per pick
  std::vector<std::uint64_t> url_hash_;  // per server, for rendezvous placement
};

}  // namespace modelgate::balancing
