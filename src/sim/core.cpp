#include "sim/core.h"

#include <algorithm>
#include <ctime>

namespace modelgate::sim::detail {

namespace {
std::atomic<std::uint64_t> next_registry_instance{1};
}

ModelRegistry::ModelRegistry(Models initial)
    : list_(std::make_shared<const Models>(std::move(initial))),
      instance_(next_registry_instance.fetch_add(1)) {}

const std::shared_ptr<const Models>& ModelRegistry::cached() const {
  struct Cache {
    std::uint64_t instance = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const Models> list;
  };
  thread_local Cache cache;
  if (cache.instance != instance_ || cache.version != version_.load(std::memory_order_acquire)) {
    std::lock_guard lock(mutex_);
    cache.list = list_;
    cache.version = version_.load(std::memory_order_relaxed);
    cache.instance = instance_;
  }
  return cache.list;
}

bool ModelRegistry::contains(std::string_view id) const {
  const auto& list = *cached();
  return std::find(list.begin(), list.end(), id) != list.end();
}

std::shared_ptr<const Models> ModelRegistry::snapshot() const {
  std::lock_guard lock(mutex_);
  return list_;
}

bool ModelRegistry::add(std::string id) {
  std::lock_guard lock(mutex_);
  if (std::find(list_->begin(), list_->end(), id) != list_->end()) return false;
  auto next = std::make_shared<Models>(*list_);
  next->push_back(std::move(id));
  list_ = std::move(next);
  version_.fetch_add(1, std::memory_order_release);
  return true;
}

bool ModelRegistry::remove(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto it = std::find(list_->begin(), list_->end(), id);
  if (it == list_->end()) return false;
  auto next = std::make_shared<Models>(*list_);
  next->erase(next->begin() + (it - list_->begin()));
  list_ = std::move(next);
  version_.fetch_add(1, std::memory_order_release);
  return true;
}

namespace {
std::unique_ptr<EngineSet> make_engines(const SimOptions& o) {
  if (o.engine.empty()) return nullptr;
  EngineConfig c;
  c.max_running = o.max_running;
  c.kv_cache_tokens = o.kv_cache_tokens;
  c.block_tokens = o.block_tokens;
  c.prefill_chunk_tokens = o.prefill_chunk_tokens;
  c.prefill_tokens_per_s = o.prefill_tokens_per_s;
  c.decode_step_ms = o.decode_step_ms;
  c.decode_ms_per_running = o.decode_ms_per_running;
  return std::make_unique<EngineSet>(o.engine == "sglang" ? EngineKind::sglang : EngineKind::vllm, c);
}
}  // namespace

SimCore::SimCore(SimOptions o)
    : options(std::move(o)),
      created_unix(static_cast<std::int64_t>(std::time(nullptr))),
      models(options.models),
      limiter(options.max_concurrency),
      engines(make_engines(options)) {}

}  // namespace modelgate::sim::detail
