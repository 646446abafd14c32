// The expected time to first token of a request on one server, and how the server's prefill rate
// is learned from its answers.
//
//   ttft ~ (queued + running * R + uncached) / rate
//
// queued: prompt tokens the gateway sent to the server that were predicted not cached and whose
// requests are still in flight (LlmState::pending_tokens) — the prefill work ahead of this one;
// running: requests in flight, each charged R = kRunningTokens tokens, since every decoding
// sequence slows each engine step a little (continuous batching); uncached: this prompt's tokens
// minus those predicted cached on that server; rate: the server's prefill rate in tokens/s.
//
// The rate is learned online: a streamed answer's measured TTFT over the work the model charged
// for it (queued + uncached at pick time) is one sample, folded into an exponentially weighted
// average (alpha = 1/4). The sample includes the server's real queueing, so a slower or busier
// server reads as slower, which is what the estimate is for. Until a server has answered, the
// prior of kDefaultRate applies to all alike, and the choice is by work alone. Non-streamed
// answers are not sampled: their first byte comes after the whole generation.
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
  std::int64_t work = 0;  // tokens ahead of and including this request's uncached part
  double rate = kDefaultRate;
  double seconds() const { return static_cast<double>(work) / rate; }
  // a < b without dividing: work_a / rate_a < work_b / rate_b.
  bool operator<(const Cost& o) const {
    return static_cast<double>(work) * o.rate < static_cast<double>(o.work) * rate;
  }
  bool operator==(const Cost& o) const {
    return static_cast<double>(work) * o.rate == static_cast<double>(o.work) * rate;
  }
};

inline double rate_of(const LlmState& s) {
  const double r = s.prefill_rate.load(std::memory_order_relaxed);
  return r > 0 ? r : kDefaultRate;
}

inline Cost expected_cost(const LlmState& s, int inflight, std::uint64_t uncached_tokens) {
  const auto pending = std::max<std::int64_t>(0, s.pending_tokens.load(std::memory_order_relaxed));
  return {pending + std::max(0, inflight) * kRunningTokens + static_cast<std::int64_t>(uncached_tokens),
          rate_of(s)};
}

// One observed TTFT of a request the model charged `work_tokens` for.
inline void learn_rate(LlmState& s, std::uint64_t work_tokens, std::chrono::nanoseconds ttft) {
  if (work_tokens < kMinSampleTokens || ttft.count() <= 0) return;
  const double sample = static_cast<double>(work_tokens) * 1e9 / static_cast<double>(ttft.count());
  const double old = s.prefill_rate.load(std::memory_order_relaxed);
  s.prefill_rate.store(old > 0 ? old + kRateAlpha * (sample - old) : sample, std::memory_order_relaxed);
}

}  // namespace modelgate::balancing
