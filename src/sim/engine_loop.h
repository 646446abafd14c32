// Runs the engine model (engine.h) in real time, one loop per served model, all on one engine
// thread of their own (the "GPU"), whatever the sim's --threads: an Engine is touched only there,
// so it needs no lock. Sessions on any thread submit and abort sequences by posting to it, and
// learn about progress through their SequenceSink. While an engine has work its loop steps it
// (sleeping for each step's duration on a timer); when it runs dry the loop ends, and the next
// submission starts it again, so an idle model costs nothing.
//
// Owning the engine thread and its io_context here keeps lifetimes simple: stop() joins the
// thread before anything the engines refer to goes away. EngineSet creates the loops lazily, the
// first time a model is asked for; they are never removed (a model unloaded and loaded again finds
// its cache as it was). A per-thread cache of the lookup keeps the lock off the request path.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "sim/engine.h"

namespace modelgate::sim::detail {

class EngineLoop : public std::enable_shared_from_this<EngineLoop> {
 public:
  EngineLoop(boost::asio::io_context::executor_type executor, EngineConfig config);

  const Engine& engine() const { return engine_; }  // for its config and stats only
  void submit(SequenceSpec spec);   // thread-safe
  void abort(std::uint64_t id);     // thread-safe

 private:
  static boost::asio::awaitable<void> run(std::shared_ptr<EngineLoop> self);
  void wake();  // on the engine thread

  boost::asio::io_context::executor_type executor_;
  boost::asio::steady_timer timer_;
  Engine engine_;
  bool running_ = false;  // on the engine thread
};

enum class EngineKind { vllm, sglang };

class EngineSet {
 public:
  EngineSet(EngineKind kind, EngineConfig config);  // starts the engine thread
  ~EngineSet();
  EngineSet(const EngineSet&) = delete;
  EngineSet& operator=(const EngineSet&) = delete;

  EngineKind kind() const { return kind_; }
  const EngineConfig& config() const { return config_; }
  // The model's loop, created if this is the first request for that model.
  std::shared_ptr<EngineLoop> get(const std::string& model);
  // The model was unloaded: its loop (and KV cache) goes once its running sequences end, and a
  // later request for it starts a fresh one, with an empty cache, as an engine that reloads it.
  void drop(std::string_view model);
  // Appends the metrics of every model in `models` (zeros for one not asked for yet), in the
  // Prometheus text format under the engine's own names.
  void append_metrics(std::string& out, const std::vector<std::string>& models) const;
  // Sums over every model, for /admin/stats.
  std::int64_t running() const;
  std::int64_t waiting() const;
  void stop();  // ends the engine thread (idempotent); call before the sessions' io_contexts go

 private:
  const EngineKind kind_;
  const EngineConfig config_;
  const std::uint64_t instance_;  // tells sets apart in the per-thread cache
  // Declared before the loops, whose timers it serves, so that it outlives them.
  boost::asio::io_context io_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<EngineLoop>, std::less<>> loops_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace modelgate::sim::detail
