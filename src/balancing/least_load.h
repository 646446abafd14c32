// least_load: the candidate where this request should wait least, judged by the load the servers
// themselves publish (loadBalancer.serverMetrics, scraped off the request path by
// discovery/metrics_scraper.h) rather than by the gateway's request counts alone.
//
// A server's load, for a server with a fresh scrape (younger than 3 scrape intervals):
//
//   (2 x waiting + running + sent since the scrape) x (1 + KV cache usage)
//
// waiting counts double: a queued request waits for a slot and then for its whole prefill,
// a running one only shares the engine's steps; "sent since the scrape" is what the gateway sent
// the server beyond the in-flight count it had when the scrape was taken (the scrape is stale by
// up to an interval, and a burst must not all land on the server that looked idle); KV usage near
// 1 means preemption and queueing ahead even when the queue is empty. A server without fresh
// metrics counts its in-flight requests, as least_request does; when no candidate has fresh
// metrics the pick is least_request's exactly (weights, and rotation among equals, included).
// Loads are compared per unit of weight, cross-multiplied.
#pragma once

#include "balancing/balancer.h"
#include "balancing/least_request.h"

namespace modelgate::balancing {

class LeastLoad final : public Balancer {
 public:
  LeastLoad(const ServerList& servers, const BalancerOptions& options);
  std::uint32_t pick(const PickContext& ctx) override;
  void on_servers_changed(const MembershipChange& change) override {
    servers_ = change.servers;
    fallback_.on_servers_changed(change);
    weights_ = Weights(servers_);
  }

  // A server's load in thousandths of a request (see above); `fresh` says whether scraped
  // signals were used.
  static std::int64_t load_of(const ServerState& s, std::int64_t now_ns, std::int64_t max_age_ns,
                              bool& fresh);

 private:
  ServerList servers_;
  LeastRequest fallback_;
  Weights weights_;
  std::int64_t max_age_ns_;
  std::uint32_t turn_ = 0;
};

}  // namespace modelgate::balancing
