// A worker's view of one service's servers: who may be picked, then which one.
//
// The rules every strategy shares live here, once: a server is a candidate when it is healthy,
// not draining, has a non-zero weight and was not already tried for this request; backup servers
// are candidates only while no primary is. The strategy then chooses among the candidates.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "balancing/balancer.h"

namespace modelgate::balancing {

class Pool {
 public:
  Pool(ServerList servers, std::unique_ptr<Balancer> balancer);

  // Picks a server not in `tried`; nullptr when none is left.
  ServerState* pick(std::span<ServerState* const> tried, std::uint64_t key_hash = 0);

  const ServerList& servers() const { return servers_; }

 private:
  ServerList servers_;
  std::unique_ptr<Balancer> balancer_;
  std::vector<std::uint32_t> candidates_;  // scratch, reused across picks
};

}  // namespace modelgate::balancing
