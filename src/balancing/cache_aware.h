// cache_aware: the server with the lowest expected time to first token for this prompt.
//
// For each candidate: how many leading blocks of the prompt's hash chain (prompt_chain.h) its
// prefix index (prefix_index.h) holds, hence how many of the prompt's tokens it would have to
// prefill; plus the prefill work already queued on it; over its learned prefill rate
// (cost_model.h). The cheapest wins; among equals the least loaded, then a rotation. The chosen
// server's index then records the whole chain: the next request sharing the prefix finds it there
// even before this one's answer (SGLang's router inserts at routing time too).
//
// Hot spots. Pure affinity piles a popular prefix onto one server. SGLang's router switches the
// whole fleet to shortest-queue once loads differ by more than absolute and relative thresholds,
// throwing every affinity away. Here only the overloaded server loses: a server whose in-flight
// count exceeds the least loaded candidate's by more than balanceAbsThreshold and by a factor of
// more than balanceRelThreshold is costed as if it had nothing cached, so new requests flow to
// others (which then cache the hot prefix too) while every other server keeps its affinity. Since
// the cost already includes queued work, a prefix hit is worth a longer queue only up to the
// prefill time it saves, and the guard caps even that.
//
// Feedback (forward.cpp through PickNote): the tokens charged to the server's queue are given back
// when the request ends; a streamed answer's TTFT teaches the server's prefill rate; the answer's
// cached_tokens checks the prediction (prediction_check.h).
//
// Cost: the chain is built once per request (about 1-2 us for 8 KB, only for services using this
// strategy); the pick does a binary search of the chain per candidate (log2(blocks) probes of one
// cache line each) and inserts the chain into one index.
#pragma once

#include <vector>

#include "balancing/balancer.h"

namespace modelgate::balancing {

class CacheAware final : public Balancer {
 public:
  CacheAware(const ServerList& servers, const BalancerOptions& options);
  std::uint32_t pick(const PickContext& ctx) override;
  // The prefix indexes live in the servers' state (llm_state.h): nothing to carry over here.
  void on_servers_changed(const MembershipChange& change) override {
    servers_ = change.servers;
    matched_.assign(servers_.size(), 0);
    inflight_.assign(servers_.size(), 0);
  }

 private:
  ServerList servers_;
  int balance_abs_;
  double balance_rel_;
  std::uint32_t turn_ = 0;               // rotation among equals
  std::vector<std::uint64_t> matched_;   // scratch: cached tokens per candidate
  std::vector<int> inflight_;            // scratch: in-flight counts read once per pick
};

}  // namespace modelgate::balancing
