// loadBalancer.serverMetrics: every `interval`, each server of a service that enables it is asked
// for its Prometheus metrics (`GET <basePath><path>`), and the load it reports (waiting, running,
// KV usage: balancing/load_signals.h) is stored in its ServerState (LlmState), with the gateway's
// own in-flight count at that moment, so least_load can add what was sent since.
//
// Off the request path: the scrapers are coroutines on the control-plane io_context; a worker
// only reads the stored atomics. One writer per server (its scraper), so plain relaxed stores.
// A failed or unreadable scrape leaves the last values to age out (least_load ignores values older
// than three intervals) and is logged at debug level: a server without metrics is served by
// in-flight counts, which is the documented fallback, not an error.
//
// A counter that went backwards (vllm:prefix_cache_queries_total) means the engine restarted with
// an empty cache: the server's prefix index is dropped at once, without waiting for the prediction
// check to notice.
//
// update() replaces every scraper with those the new snapshot asks for (a scrape is stateless, so
// a restart on reload costs one early scrape); it may be called from any thread and takes effect
// when the posted work runs. stop() ends them: call it on the control-plane thread, or once that
// thread has ended.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>

#include "runtime/snapshot.h"

namespace modelgate::discovery {

class MetricsScraper {
 public:
  explicit MetricsScraper(boost::asio::io_context& io);
  ~MetricsScraper();
  MetricsScraper(const MetricsScraper&) = delete;
  MetricsScraper& operator=(const MetricsScraper&) = delete;

  void update(std::shared_ptr<const runtime::Snapshot> snapshot);
  void stop();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace modelgate::discovery
