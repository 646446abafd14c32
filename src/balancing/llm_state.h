// What the LLM-aware strategies learn about one server, kept in its ServerState so that it
// survives discovery changes, health changes and reloads that leave its service's definition
// alone; a reload that changes the definition (strategy, its settings) forgets it (forget()).
//
// Shared by all workers; every field written on the request path is a relaxed atomic (no lock,
// no fence): each is a statistic where a lost or reordered update costs a slightly stale number.
// - The prefix index (prefix_index.h) is created once, on the control thread, before the first
//   snapshot using cache_aware is published; workers only read the pointer (acquire).
// - The cost model (cost_model.h): work queued on the server in prompt tokens the gateway sent
//   and that were not predicted cached, and the server's prefill rate learned from its answers.
// - The prediction check (prediction_check.h): predicted and realised cached tokens.
// - Scraped load (server_metrics.h): written by the single scraper task, read by workers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "balancing/prefix_index.h"

namespace modelgate::balancing {

struct LlmState {
  LlmState() = default;
  LlmState(const LlmState&) = delete;
  ~LlmState() { delete index.load(std::memory_order_relaxed); }

  // Set once (nullptr until a cache_aware service uses the server); owned.
  std::atomic<PrefixIndex*> index{nullptr};

  // Cost model.
  std::atomic<std::int64_t> pending_tokens{0};  // uncached prompt tokens of requests before their first token
  std::atomic<std::int32_t> pending_requests{0};  // those requests (with some uncached tokens)
  std::atomic<double> prefill_rate{0};          // tokens/s, EWMA; 0 until the first sample

  // Prediction check: totals (metrics) and the current window (correction).
  std::atomic<std::uint64_t> predicted_cached{0};
  std::atomic<std::uint64_t> realised_cached{0};
  std::atomic<std::uint64_t> checked_answers{0};
  std::atomic<std::uint64_t> window_predicted{0};
  std::atomic<std::uint64_t> window_realised{0};
  std::atomic<std::uint32_t> window_answers{0};
  std::atomic<std::uint32_t> zero_streak{0};  // answers in a row predicted to hit that did not
  std::atomic<std::uint64_t> picks{0};        // requests sent with a prediction, numbered from 1
  std::atomic<std::uint64_t> miss_mark{0};    // picks as of the last miss counted in zero_streak
  std::atomic<std::uint64_t> index_resets{0};
  std::atomic<std::uint64_t> index_shrinks{0};

  // Scraped from the server's /metrics; negative: not known.
  std::atomic<std::int32_t> waiting{-1};
  std::atomic<std::int32_t> running{-1};
  std::atomic<std::int32_t> kv_permille{-1};        // KV cache usage, 0..1000
  std::atomic<std::int64_t> scraped_at_ns{0};       // steady clock; 0: never
  std::atomic<std::int32_t> inflight_at_scrape{0};  // the gateway's own count when it was taken
  std::atomic<double> cache_queries{-1};            // vllm:prefix_cache_queries_total, to see restarts

  // Forgets what was learned, when the service's definition changed (runtime/snapshot.cpp): the
  // index's blocks, the prefill rate and the prediction window. What is true of the moment stays:
  // the charges of requests in flight (given back when they end), the scraped load, the totals
  // the metrics count.
  void forget() {
    constexpr auto relaxed = std::memory_order_relaxed;
    if (PrefixIndex* i = index.load(std::memory_order_acquire)) i->reset();
    prefill_rate.store(0, relaxed);
    window_predicted.store(0, relaxed);
    window_realised.store(0, relaxed);
    window_answers.store(0, relaxed);
    zero_streak.store(0, relaxed);
  }
};

}  // namespace modelgate::balancing
