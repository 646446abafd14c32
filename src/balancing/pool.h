// A worker's view of one service's servers: who may be picked, then which one.
//
// The rules every strategy shares live here, once. A server is a candidate when it is healthy
// (active checks), not ejected (passive health), not draining, has a non-zero weight, has a free
// slot under its maxConnections, serves the requested model (discovery) and was not already
// tried for this request. Backup servers are candidates only while no primary is. When health
// leaves no candidate at all, the pool panics (as Envoy does): it tries the servers anyway, since
// failing every request is worse than trying a server that may have recovered.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "balancing/balancer.h"
#include "balancing/tried_set.h"

namespace modelgate::balancing {

struct PickRequest {
  const TriedSet* tried = nullptr;  // indices into servers() already tried; may be nullptr
  std::uint64_t key_hash = 0;
  // When set, only these servers may be chosen (those whose model list has the model).
  std::span<const ServerState* const> allowed;
  bool restrict_to_allowed = false;
  const PromptChain* prompt = nullptr;  // for prompt-aware strategies
  PickNote* note = nullptr;
};

struct PickResult {
  ServerState* server = nullptr;
  // No server was chosen only because every candidate is at its maxConnections.
  bool all_busy = false;
  bool panic = false;       // chosen although health says no server is up
  std::uint32_t index = 0;  // server's position in servers(), for the request's TriedSet
};

class Pool {
 public:
  Pool(ServerList servers, std::unique_ptr<Balancer> balancer);

  PickResult pick(const PickRequest& request);
  // Picks a server not in `tried`; nullptr when none is left.
  ServerState* pick(const TriedSet& tried, std::uint64_t key_hash = 0) {
    return pick(PickRequest{&tried, key_hash, {}, false}).server;
  }

  const ServerList& servers() const { return servers_; }

 private:
  enum class Gate { strict, panic };
  // Fills candidates_; returns how many were left out only for being at maxConnections.
  std::size_t collect(const PickRequest& request, bool backup, Gate gate, std::int64_t now_ns);
  static bool was_tried(const PickRequest& request, std::uint32_t index) {
    return request.tried && request.tried->contains(index);
  }

  ServerList servers_;
  std::unique_ptr<Balancer> balancer_;
  std::vector<std::uint32_t> candidates_;  // scratch, reused across picks
};

}  // namespace modelgate::balancing
