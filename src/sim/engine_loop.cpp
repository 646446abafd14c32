#include "sim/engine_loop.h"

#include <atomic>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace modelgate::sim::detail {

namespace asio = boost::asio;

EngineLoop::EngineLoop(asio::io_context::executor_type executor, EngineConfig config)
    : executor_(executor), timer_(executor), engine_(config) {}

void EngineLoop::submit(SequenceSpec spec) {
  asio::post(executor_, [self = shared_from_this(), spec = std::move(spec)]() mutable {
    self->engine_.submit(std::move(spec), Engine::Clock::now());
    self->wake();
  });
}

void EngineLoop::abort(std::uint64_t id) {
  asio::post(executor_, [self = shared_from_this(), id] { self->engine_.abort(id); });
}

void EngineLoop::wake() {
  if (running_) return;  // the loop picks the new work up at its next step
  running_ = true;
  asio::co_spawn(executor_, run(shared_from_this()), asio::detached);
}

asio::awaitable<void> EngineLoop::run(std::shared_ptr<EngineLoop> self) {
  Engine& engine = self->engine_;
  while (engine.has_work()) {
    auto start = Engine::Clock::now();
    auto duration = engine.begin_step(start);
    if (duration == Engine::Clock::duration::zero()) break;  // nothing can run until a submit
    self->timer_.expires_at(start + duration);
    auto [ec] = co_await self->timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    engine.end_step(Engine::Clock::now());
  }
  self->running_ = false;
}

namespace {
std::atomic<std::uint64_t> next_set_instance{1};
}

EngineSet::EngineSet(EngineKind kind, EngineConfig config)
    : kind_(kind),
      config_(config),
      instance_(next_set_instance.fetch_add(1)),
      work_(io_.get_executor()),
      thread_([this] { io_.run(); }) {}

EngineSet::~EngineSet() { stop(); }

void EngineSet::stop() {
  if (!thread_.joinable()) return;
  work_.reset();
  io_.stop();
  thread_.join();
}

std::shared_ptr<EngineLoop> EngineSet::get(const std::string& model) {
  struct Key {
    std::uint64_t instance;
    std::string model;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    std::size_t operator()(const Key& k) const {
      return std::hash<std::string>{}(k.model) ^ (k.instance * 0x9e3779b97f4a7c15ull);
    }
  };
  // Weak, so that a thread's cache never keeps a loop (and its timer) past its EngineSet.
  thread_local std::unordered_map<Key, std::weak_ptr<EngineLoop>, KeyHash> cache;
  Key key{instance_, model};
  if (auto it = cache.find(key); it != cache.end()) {
    if (auto loop = it->second.lock()) return loop;
  }
  std::shared_ptr<EngineLoop> loop;
  {
    std::lock_guard lock(mutex_);
    auto& slot = loops_[model];
    if (!slot) slot = std::make_shared<EngineLoop>(io_.get_executor(), config_);
    loop = slot;
  }
  cache.insert_or_assign(std::move(key), loop);
  return loop;
}

void EngineSet::drop(std::string_view model) {
  std::lock_guard lock(mutex_);
  if (auto it = loops_.find(model); it != loops_.end()) loops_.erase(it);
}

std::int64_t EngineSet::running() const {
  std::lock_guard lock(mutex_);
  std::int64_t n = 0;
  for (auto& [model, loop] : loops_) n += loop->engine().stats().running.load(std::memory_order_relaxed);
  return n;
}

std::int64_t EngineSet::waiting() const {
  std::lock_guard lock(mutex_);
  std::int64_t n = 0;
  for (auto& [model, loop] : loops_) n += loop->engine().stats().waiting.load(std::memory_order_relaxed);
  return n;
}

}  // namespace modelgate::sim::detail
