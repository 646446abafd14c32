// The expected time to first token of a request on one server, and how the server's prefill rate
// is learned from its answers.
//
//   ttft ~ (queued + running * R + uncached) / rate
//   cost = (queued + running * R + uncached * (2 + waiting)) / rate
//
// queued: prompt tokens the gateway sent to the server that were predicted not cached and whose
// requests have not had their first token yet (LlmState::pending_tokens) — the prefill work ahead
// of this one; running: requests in flight, each charged R = kRunningTokens tokens, since every
// decoding sequence slows each engine step a little (continuous batching); uncached: this
// prompt's tokens minus those predicted cached on that server; rate: the server's prefill rate in
// tokens/s.
//
// The pick minimises the cost, not the TTFT alone: an uncached part also delays others, by about
// its own length each. waiting is the number of requests whose prefill the gateway charged to that
// server and that have not had their first token yet: an engine prefills the sequences it
// admitted together (chunked prefill shares each step's token budget), so the new prefill slows
// each of them; and one more for the requests that will arrive there while it runs. So a cache
// hit is worth a queue up to about twice the prefill it saves on an idle fleet, and far more on a
// saturated one, where a miss costs the fleet its prefill several times over. Chasing the shortest
// TTFT alone, under saturation each request took a miss on a server whose queue was a little
// shorter, and the fleet prefilled every prefix everywhere (the throughput of round robin); and
// at moderate load a request arriving while its prefix was still being prefilled went elsewhere,
// so every burst left copies of a prefix on two or three servers.
//
// The rate is learned online: a streamed answer's measured TTFT over the work the model charged
// for it (running * R + uncached at pick time) is one sample, folded into an exponentially
// weighted average (alpha = 1/4), taken only from requests that had no prefill of the gateway's
// queued ahead of them: the rate is the server's prefill speed, and its queue is counted apart.
// Sampled behind a queue, the rate mixed in the engine's step overhead and every wait the model
// does not see: a server answering cache hits (little work, the same overhead) read as slow, one
// taking misses as fast, and the costs sent misses to the server that should have had none.
// Until a server has answered, the prior of kDefaultRate applies to all alike, and the choice is
// by work alone. Non-streamed answers are not sampled: their first byte comes after the whole
// generation.

#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "balancing/llm_state.h"

namespace modelgate::balancing {

inline constexpr double kDefaultRate = 8000.0;     // tokens/s: a small GPU's prefill
inline constexpr std::int64_t kRunningTokens = 32;  // prefill-equivalent cost of one running request
inline constexpr double kRateAlpha = 0.25;
inline constexpr std::uint64_t kMinSampleTokens = 64;  // below this, TTFT is mostly overhead

struct Cost {
  std::int64_t work = 0;   // tokens ahead of and including this request's uncached part
  std::int64_t delay = 0;  // tokens of delay its uncached part puts on the prefills queued there
  double rate = kDefaultRate;
  double seconds() const { return static_cast<double>(work) / rate; }
  // Compared by (work + delay) / rate, without dividing.
  bool operator<(const Cost& o) const {
    return static_cast<double>(work + delay) * o.rate < static_cast<double>(o.work + o.delay) * rate;
  }
  bool operator==(const Cost& o) const {
    return static_cast<double>(work + delay) * o.rate == static_cast<double>(o.work + o.delay) * rate;
  }
};

inline double rate_of(const LlmState& s) {
  const double r = s.prefill_rate.load(std::memory_order_relaxed);
  return r > 0 ? r : kDefaultRate;
}

inline Cost expected_cost(const LlmState& s, int inflight, std::uint64_t uncached_tokens) {
  const auto pending = std::max<std::int64_t>(0, s.pending_tokens.load(std::memory_order_relaxed));
  const auto queued = std::max<std::int64_t>(0, s.pending_requests.load(std::memory_order_relaxed));
  const auto uncached = static_cast<std::int64_t>(uncached_tokens);
  return {pending + std::max(0, inflight) * kRunningTokens + uncached, uncached * (queued + 1), rate_of(s)};
}

// One observed TTFT of a request the model charged `work_tokens` for.
inline void learn_rate(LlmState& s, std::uint64_t work_tokens, std::chrono::nanoseconds ttft) {
  if (work_tokens < kMinSampleTokens || ttft.count() <= 0) return;
  const double sample = static_cast<double>(work_tokens) * 1e9 / static_cast<double>(ttft.count());
  const double old = s.prefill_rate.load(std::memory_order_relaxed);
  s.prefill_rate.store(old > 0 ? old + kRateAlpha * (sample - old) : sample, std::memory_order_relaxed);
}

}  // namespace modelgate::balancing
