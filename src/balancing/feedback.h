// What a request tells the prompt-aware strategies once its server has answered (cache_aware):
// the queue charge is given back, the prediction checked, the prefill rate learned.
//
// Called from the forwarding path, once per attempt, after the pick; everything it touches is
// the chosen server's LlmState (relaxed atomics).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "balancing/balancer.h"

namespace modelgate::balancing {

// Holds the tokens a pick charged to a server's queue (PickNote::charged) until the request's
// prefill is done: its first token (release()), or its end, whichever comes first. A request that
// is decoding no longer delays a new one's prefill; it is counted among the running ones
// (cost_model.h). Held to the end, the charges of a busy server's decoding requests made its cache
// hits look dearer than misses elsewhere, and under saturation prefixes were spread over the fleet.
class QueueCharge {
 public:
  QueueCharge(ServerState& server, const PickNote& note) : server_(server), tokens_(note.charged) {}
  ~QueueCharge() { release(); }
  void release() {
    if (!tokens_) return;
    server_.llm.pending_tokens.fetch_sub(static_cast<std::int64_t>(tokens_), std::memory_order_relaxed);
    server_.llm.pending_requests.fetch_sub(1, std::memory_order_relaxed);
    tokens_ = 0;
  }
  QueueCharge(const QueueCharge&) = delete;
  QueueCharge& operator=(const QueueCharge&) = delete;

 private:
  ServerState& server_;
  std::uint64_t tokens_;
};

// The answer's usage: cached_tokens when the server reported it; ttft for a streamed answer.
void record_answer(ServerState& server, const PickNote& note, std::optional<std::uint64_t> cached_tokens,
                   std::optional<std::chrono::nanoseconds> ttft);

}  // namespace modelgate::balancing
