#include "sim/engine.h"

#include <algorithm>

namespace modelgate::sim::detail {

namespace {
int blocks_for(const EngineConfig& c) {
  return std::max(1, c.kv_cache_tokens / std::max(1, c.block_tokens));
}
}  // namespace

Engine::Engine(EngineConfig config) : config_(config), cache_(blocks_for(config)) {
  publish_stats();
}

int Engine::blocks_needed(int prompt_tokens, int max_tokens) const {
  const int b = std::max(1, config_.block_tokens);
  const std::int64_t tokens = std::max(1, prompt_tokens) + std::int64_t{std::max(0, max_tokens)};
  return static_cast<int>(std::min<std::int64_t>((tokens + b - 1) / b, INT32_MAX));
}

bool Engine::fits(int prompt_tokens, int max_tokens) const {
  return blocks_needed(prompt_tokens, max_tokens) <= cache_.total_blocks();
}

void Engine::submit(SequenceSpec spec, Clock::time_point now) {
  auto s = std::make_unique<Sequence>();
  s->spec = std::move(spec);
  s->spec.prompt_tokens = std::max(1, s->spec.prompt_tokens);
  s->spec.max_tokens = std::max(0, s->spec.max_tokens);
  s->arrived = now;
  waiting_.push_back(std::move(s));
  publish_stats();
}

void Engine::abort(std::uint64_t id) {
  auto same = [id](const std::unique_ptr<Sequence>& s) { return s->spec.id == id; };
  if (auto it = std::find_if(running_.begin(), running_.end(), same); it != running_.end()) {
    cache_.release((*it)->blocks);
    running_.erase(it);
  } else if (auto w = std::find_if(waiting_.begin(), waiting_.end(), same); w != waiting_.end()) {
    waiting_.erase(w);
  }
  publish_stats();
}

bool Engine::admit(Sequence& s) {
  const int b = std::max(1, config_.block_tokens);
  const auto& keys = s.spec.block_keys;
  // At most the blocks before the prompt's last token: that one is always computed.
  const int usable = std::min<int>(static_cast<int>(keys.size()), (s.spec.prompt_tokens - 1) / b);
  const std::span<const std::uint64_t> prefix(keys.data(), static_cast<std::size_t>(usable));
  const int cached = cache_.match(prefix);
  if (!cache_.allocate(prefix, cached, blocks_needed(s.spec.prompt_tokens, s.spec.max_tokens),
                       s.blocks))
    return false;
  s.cached = cached * b;
  s.computed = s.cached;
  s.published = cached;
  stats_.prefix_queries.fetch_add(static_cast<std::uint64_t>(s.spec.prompt_tokens),
                                  std::memory_order_relaxed);
  stats_.prefix_hits.fetch_add(static_cast<std::uint64_t>(s.cached), std::memory_order_relaxed);
  return true;
}

Engine::Clock::duration Engine::begin_step(Clock::time_point) {
  while (!waiting_.empty() && static_cast<int>(running_.size()) < config_.max_running &&
         admit(*waiting_.front())) {
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  publish_stats();
  if (running_.empty()) return Clock::duration::zero();

  int budget = std::max(1, config_.prefill_chunk_tokens);
  int prefilled = 0;
  for (auto& s : running_) {
    const int remaining = s->spec.prompt_tokens - s->computed;
    if (remaining > 0) {
      s->planned_prefill = std::min(remaining, budget);
      budget -= s->planned_prefill;
      prefilled += s->planned_prefill;
    } else {
      s->planned_decode = true;
    }
  }
  const double ms = config_.decode_step_ms +
                    config_.decode_ms_per_running * static_cast<double>(running_.size()) +
                    (config_.prefill_tokens_per_s > 0 ? 1000.0 * prefilled / config_.prefill_tokens_per_s : 0);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(ms));
}

void Engine::end_step(Clock::time_point now) {
  const int b = std::max(1, config_.block_tokens);
  for (auto it = running_.begin(); it != running_.end();) {
    Sequence& s = **it;
    const int before = s.generated;
    if (s.planned_prefill > 0) {
      s.computed += s.planned_prefill;
      const int full = std::min<int>(s.computed / b, static_cast<int>(s.spec.block_keys.size()));
      for (; s.published < full; ++s.published)
        cache_.publish(s.blocks[s.published], s.spec.block_keys[s.published]);
      if (s.computed == s.spec.prompt_tokens && s.spec.max_tokens > 0) {
        s.generated = 1;  // the step that completes a prompt samples its first token
        record_ttft(now - s.arrived);
      }
    } else if (s.planned_decode && s.generated < s.spec.max_tokens) {
      ++s.generated;
    }
    s.planned_prefill = 0;
    s.planned_decode = false;
    const bool finished = s.computed == s.spec.prompt_tokens && s.generated >= s.spec.max_tokens;
    if (finished) cache_.release(s.blocks);
    if (s.generated != before || finished) {
      s.spec.sink->on_progress({s.generated, s.cached, finished});
    }
    it = finished ? running_.erase(it) : it + 1;
  }
  publish_stats();
}

void Engine::publish_stats() {
  stats_.running.store(static_cast<std::int64_t>(running_.size()), std::memory_order_relaxed);
  stats_.waiting.store(static_cast<std::int64_t>(waiting_.size()), std::memory_order_relaxed);
  stats_.used_blocks.store(cache_.used_blocks(), std::memory_order_relaxed);
  stats_.total_blocks.store(cache_.total_blocks(), std::memory_order_relaxed);
}

void Engine::record_ttft(Clock::duration ttft) {
  const double s = std::chrono::duration<double>(ttft).count();
  const auto& bounds = EngineStats::kTtftBuckets;
  auto i = static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), s) - bounds.begin());
  if (i < bounds.size()) stats_.ttft_buckets[i].fetch_add(1, std::memory_order_relaxed);
  stats_.ttft_count.fetch_add(1, std::memory_order_relaxed);
  stats_.ttft_sum_us.fetch_add(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(ttft).count()),
      std::memory_order_relaxed);
}

}  // namespace modelgate::sim::detail
