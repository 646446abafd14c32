// The engine model: one continuous-batching inference engine (vLLM / SGLang style) serving one
// model, as pure logic driven by an injected clock — the caller says when a step starts and when
// it ends, so tests step it by hand and engine_loop.h drives it with a timer.
//
// A step (iteration) of the engine:
//   1. admission: waiting sequences, oldest first, join the running batch while it has fewer
//      than `max_running` and the KV cache can give the next one its blocks (prompt plus
//      max_tokens, reserved at once so a running sequence never has to be preempted); the first
//      one that does not fit stops admission (FIFO, no overtaking). Its cached prefix counts as
//      computed: the longest run of cached blocks, never the prompt's last token (as vLLM, which
//      always computes at least one prompt token to sample from).
//   2. work: prompts are prefilled in chunks — at most `prefill_chunk_tokens` new tokens per
//      step over the whole batch, oldest first — and every sequence whose prefill is done
//      decodes one token.
//   3. duration = decode_step + decode_per_running × running + prefilled tokens / prefill rate.
//      At its end each sequence that finished its prefill has its first token; each decoding one
//      has one more; a sequence with all its tokens finishes and releases its blocks.
// So an idle engine's TTFT for a prompt with U uncached tokens is U / rate plus one step
// overhead per chunk, plus the time queued; and TPOT is one step at the current batch size.
//
// Sequences report progress through a SequenceSink, called on the engine's own thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "sim/kv_cache.h"

namespace modelgate::sim::detail {

struct EngineConfig {
  int max_running = 256;
  int kv_cache_tokens = 65536;
  int block_tokens = 16;
  int prefill_chunk_tokens = 2048;
  double prefill_tokens_per_s = 8000;
  double decode_step_ms = 6;
  double decode_ms_per_running = 0.35;
};

struct Progress {
  int generated = 0;      // tokens produced so far
  int cached_tokens = 0;  // prompt tokens found in the cache at admission
  bool finished = false;
};

class SequenceSink {
 public:
  virtual ~SequenceSink() = default;
  virtual void on_progress(const Progress& progress) = 0;
};

struct SequenceSpec {
  std::uint64_t id = 0;
  int prompt_tokens = 1;
  std::vector<std::uint64_t> block_keys;  // the prompt's full blocks (tokenizer.h)
  int max_tokens = 0;
  std::shared_ptr<SequenceSink> sink;
};

// Counters and gauges, written by the engine's thread, read by /metrics from any thread.
struct EngineStats {
  // vLLM's TTFT histogram buckets, in seconds.
  static constexpr std::array<double, 22> kTtftBuckets = {
      0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
      1.0,   2.5,   5.0,  7.5,  10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0};

  std::atomic<std::int64_t> running{0}, waiting{0};
  std::atomic<std::int64_t> used_blocks{0}, total_blocks{0};
  std::atomic<std::uint64_t> prefix_queries{0}, prefix_hits{0};  // prompt tokens, cached tokens
  std::array<std::atomic<std::uint64_t>, kTtftBuckets.size()> ttft_buckets{};  // not cumulative
  std::atomic<std::uint64_t> ttft_count{0};
  std::atomic<std::uint64_t> ttft_sum_us{0};
};

class Engine {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Engine(EngineConfig config);
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const EngineConfig& config() const { return config_; }
  // Blocks a sequence needs for its prompt and completion.
  int blocks_needed(int prompt_tokens, int max_tokens) const;
  // Whether such a sequence could ever run (fits in the whole cache).
  bool fits(int prompt_tokens, int max_tokens) const;

  void submit(SequenceSpec spec, Clock::time_point now);  // joins the wait queue
  void abort(std::uint64_t id);  // frees its slot and blocks now; no further progress is reported
  bool has_work() const { return !running_.empty() || !waiting_.empty(); }

  // Plans the next step at `now` and returns how long it takes (zero when there is no work).
  Clock::duration begin_step(Clock::time_point now);
  // Applies the planned step, which ended at `now`, and reports progress.
  void end_step(Clock::time_point now);

  const EngineStats& stats() const { return stats_; }
  int running() const { return static_cast<int>(running_.size()); }
  int waiting() const { return static_cast<int>(waiting_.size()); }
  const KvCache& cache() const { return cache_; }

 private:
  struct Sequence {
    SequenceSpec spec;
    Clock::time_point arrived;
    std::vector<int> blocks;
    int computed = 0;   // prompt tokens in the KV cache
    int published = 0;  // full prompt blocks published to the cache
    int generated = 0;
    int cached = 0;
    int planned_prefill = 0;  // this step's work
    bool planned_decode = false;
  };

  bool admit(Sequence& s);
  void publish_stats();
  void record_ttft(Clock::duration ttft);

  const EngineConfig config_;
  KvCache cache_;
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;  // in admission order
  EngineStats stats_;
};

}  // namespace modelgate::sim::detail
