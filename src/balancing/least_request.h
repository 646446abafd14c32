// least_request: the candidate with the fewest requests in flight per unit of weight.
//
// Every worker reads the same ServerState::inflight counters (relaxed atomic loads: a count a few
// requests stale is harmless, a fence per pick is not), so the choice reflects the whole process,
// not one worker's share. Weights are honoured as nginx least_conn does: a is less loaded than b
// when inflight_a / weight_a < inflight_b / weight_b, compared as inflight_a * weight_b <
// inflight_b * weight_a, without division. Among equally loaded candidates the pick rotates by
// smooth weighted round robin (again as nginx), so an idle pool is shared by weight instead of
// always landing on the first server.
//
// Pick it for LLM traffic on a handful of servers: a generation holds a server for seconds to
// minutes and its cost varies a hundredfold with the prompt and output length, so the count of
// requests running is the best cheap signal of where the next one will wait least. It reads every
// candidate's counter, O(candidates) per pick: 0.24 us of CPU at 64 servers, 3.1 us at 1 024
// (test/micro/pick_benchmark.cpp; p2c reads two, 40-50 ns at any size). When several balancers (or
// processes) share servers they all see the same counters only within one process. A server that
// answers errors fast looks idle and attracts traffic: keep passive health checks on.
#pragma once

#include <vector>

#include "balancing/balancer.h"
#include "balancing/random.h"

namespace modelgate::balancing {

class LeastRequest final : public Balancer {
 public:
  explicit LeastRequest(const ServerList& servers);
  std::uint32_t pick(const PickContext& ctx) override;
  void on_servers_changed(const MembershipChange& change) override;

 private:
  ServerList servers_;
  Weights weights_;
  std::vector<std::int64_t> load_;     // scratch: in-flight counts read once per pick
  std::vector<std::int64_t> current_;  // smooth weighted round robin among the least loaded
};

}  // namespace modelgate::balancing
