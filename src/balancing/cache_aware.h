// cache_aware: the server with the lowest expected time to first token for this prompt, counting
// the delay its prefill puts on the prefills queued there.
//
// For each candidate: how many leading blocks of the prompt's hash chain (prompt_chain.h) its
// prefix index (prefix_index.h) holds, hence how many of the prompt's tokens it would have to
// prefill; plus the prefill work already queued on it; over its learned prefill rate
// (cost_model.h). The cheapest wins; among equals the least loaded, then the one that took the
// fewest of the recent picks, then a rotation. The chosen
// server's index then records the whole chain: the next request sharing the prefix finds it there
// even before this one's answer (SGLang's router inserts at routing time too).
//
// A prompt no candidate holds is a new prefix. It goes to its home: among the candidates the guards
// below allow and that have at most newPrefixSlack requests in flight more than the least loaded
// of them, the one that scores highest by rendezvous hashing (rendezvous.h) of the prompt's first
// kPlacementBlocks blocks (256 tokens; shorter prompts by their whole text). With the default
// slack of 0 that is a least loaded server, as least_request would choose, the hash only breaking
// ties: prompts that share nothing are spread as evenly as by least_request. Gateways that split
// a fleet's traffic (DNS round robin, a virtual IP) and never talk to each other set a slack of 2:
// each then places a new prefix on the same server whatever small differences of load it sees,
// and a prefix one of them has seen is found by the other where the first put it (see
// docs/scheduling.md, "Several gateways"). Neither the learned rates nor differences of load
// within the slack steer a new prefix. One exception keeps a skewed fleet level: while some
// allowed server took less than 1/loadFactor of the average share of recent picks (and
// kShareSlack picks less), new prefixes go to the best-scoring of those under-used servers.
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
// The guards hold only while some candidate has no prefill of ours waiting, i.e. while moving a
// request elsewhere finds a server with room for its prefill. Once every server has prefills
// queued, a request moved off its cache only adds a prefill to another queue: the fleet is
// saturated and its throughput is what the caches save, so the cost model alone decides (it
// still moves a request whose cache server's queue is longer than the prefill it saves, counted
// with the delay a prefill puts on the others, cost_model.h).
//
// Feedback (forward.cpp through PickNote): the tokens charged to the server's queue are given back
// at the first token of the answer (relay.cpp), or when the request ends; a streamed answer's TTFT teaches the server's prefill rate; the answer's
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

 private:
  // Recent picks: server i's weight is recent_[i] / step_, where every pick multiplies step_ by
  // 1 / (1 - 1/kShareWindow) instead of decaying every entry (renormalised before it overflows).
  static constexpr double kShareWindow = 64;
  static constexpr double kShareSlack = 3;
  bool over_share(std::uint32_t server, double mean) const;
  bool under_share(std::uint32_t server, double mean) const;
  void count_pick(std::uint32_t server);
  void hash_urls();

  ServerList servers_;
  int balance_abs_;
  double balance_rel_;
  double load_factor_;
  int new_prefix_slack_;
  double step_ = 1;
  std::vector<double> recent_;
  std::uint32_t turn_ = 0;               // rotation among equals
  std::vector<std::uint64_t> matched_;   // scratch: cached tokens per candidate (0 when guarded)
  std::vector<std::size_t> held_;        // scratch: blocks its index holds, guarded or not
  std::vector<int> inflight_;            // scratch: in-flight counts read once per pick
  std::vector<int> queued_;              // scratch: requests waiting for their prefill, per server
  std::vector<std::uint64_t> url_hash_;  // per server, for rendezvous placement
};

}  // namespace modelgate::balancing
