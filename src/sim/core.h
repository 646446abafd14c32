// What every connection of one sim shares, across all of its threads: the options, the model
// list, the concurrency limiter, the statistics served on /admin/stats and, in engine mode, the
// engine models.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sim/engine_loop.h"
#include "sim/limiter.h"
#include "sim/sim.h"

namespace modelgate::sim::detail {

using Clock = std::chrono::steady_clock;
using Models = std::vector<std::string>;

// The list of served models. Every generation request checks its model, admin requests change
// the list rarely. A reader keeps a per-thread copy of the current snapshot and compares one
// atomic version number per request, so the hot path takes no lock and writes no cache line
// shared with other threads; the mutex is taken only after a change (or by a thread that
// alternates between two sims, which only the in-process demo does).
class ModelRegistry {
 public:
  explicit ModelRegistry(Models initial);
  bool contains(std::string_view id) const;
  std::shared_ptr<const Models> snapshot() const;
  bool add(std::string id);          // false: already present
  bool remove(std::string_view id);  // false: absent

 private:
  const std::shared_ptr<const Models>& cached() const;

  mutable std::mutex mutex_;
  std::shared_ptr<const Models> list_;  // guarded by mutex_
  std::atomic<std::uint64_t> version_{1};
  const std::uint64_t instance_;  // tells registries apart in the per-thread cache
};

// Counters of generation requests (chat and text completions); running/queued live in Limiter.
struct Stats {
  std::atomic<std::uint64_t> requests{0};   // received, whatever their outcome
  std::atomic<std::uint64_t> completed{0};  // whole response written
  std::atomic<std::uint64_t> aborted{0};    // client left before the end
};

struct SimCore {
  explicit SimCore(SimOptions o);

  const SimOptions options;
  const Clock::time_point started = Clock::now();
  const std::int64_t created_unix;  // "created" of the models
  ModelRegistry models;
  Limiter limiter;
  Stats stats;
  std::atomic<std::uint64_t> next_id{1};
  // With --engine: the engine model of every served model (null otherwise).
  const std::unique_ptr<EngineSet> engines;

  bool hung() const {
    return options.hang_after_ms > 0 &&
           Clock::now() - started >= std::chrono::milliseconds(options.hang_after_ms);
  }
};

}  // namespace modelgate::sim::detail
