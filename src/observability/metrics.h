// Request metrics, kept per worker thread and summed when Prometheus scrapes.
//
// Each worker records into its own Shard: no lock, no read-modify-write shared with another
// thread. A counter has a single writer, so "increment" is a relaxed load and a relaxed store;
// the scraper (admin thread) reads the same atomics relaxed and may see a request in one series
// and not yet in another, which Prometheus tolerates.
//
// A Shard keeps one Series per (router, service, model): the request counts per status code, the
// duration and time-to-first-token histograms, the token and retry counters. One hash lookup per
// request finds it; the key is a struct of string_views with its hash computed once, so a known
// label combination costs no allocation. A new combination allocates its Series once and
// publishes it at the head of a lock-free singly linked list (release store), which the renderer
// walks (acquire load); Series are never moved or freed before the Metrics, so the renderer needs
// no lock. The model label comes from the client: a Shard admits at most `max_models` distinct
// values (default 1000), later ones are counted as model="other".
//
// Time to first token is also kept per upstream server (by URL: one machine in two pools is one
// series), for the admin API's per-server quantiles: one more hash lookup per streamed answer.
//
// Rendering (text exposition format 0.0.4) walks every shard, sums equal label sets and derives
// the coarser families (TTFT by service and model, tokens by model, retries by service) from the
// series. It allocates freely: it runs on the admin thread, once per scrape.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "observability/request_record.h"
#include "text/prometheus.h"

namespace modelgate::observability {

// Upper bounds, in seconds, of the duration and time-to-first-token histograms: from a cached or
// rejected answer (5 ms) to a long generation (5 min).
inline constexpr std::array<double, 17> kLatencyBucketsSeconds = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 180, 300};

// What the LLM-aware strategies know of a server (balancing/llm_state.h), for servers of services
// that use cache_aware or scrape serverMetrics.
struct SchedulingGauge {
  std::uint64_t predicted_cached = 0;  // tokens the prefix index predicted cached (checked answers)
  std::uint64_t realised_cached = 0;   // of those, tokens the server reported cached
  std::uint64_t checked_answers = 0;
  std::uint64_t index_resets = 0;
  double prefill_rate = 0;             // learned tokens/s; 0: not yet
  std::int64_t pending_tokens = 0;
  int waiting = -1, running = -1;      // scraped; -1: not known
  double kv_usage = -1;                // scraped, 0..1; -1: not known
  std::int64_t modelled_tokens = -1;   // the prefix index's modelled cache; -1: no index
};

// One upstream server's state, passed in by the caller at render time.
struct ServerGauge {
  std::string service;
  std::string server;  // its url
  bool up = true;
  int inflight = 0;
  std::optional<SchedulingGauge> scheduling;
};

// One server of a TCP service (docs/tcp.md): its connections and bytes, counted by the relay.
struct TcpServerGauge {
  std::string service;
  std::string server;  // its address as written
  bool up = true;
  std::uint64_t open = 0, total = 0, bytes_in = 0, bytes_out = 0, connect_failures = 0;
};

// Values owned elsewhere, rendered with the request metrics.
struct ExtraGauges {
  std::vector<ServerGauge> servers;                 // modelgate_server_up / _inflight
  std::vector<TcpServerGauge> tcp_servers;          // modelgate_tcp_*
  std::optional<std::uint64_t> access_log_dropped;  // modelgate_access_log_dropped_total
};

struct MetricsOptions {
  std::size_t max_models = 1000;  // distinct model label values per shard; then "other"
};

class Metrics {
 public:
  using Options = MetricsOptions;

  // The part of the metrics one worker writes. Not thread-safe: only its worker calls record().
  class alignas(64) Shard {
   public:
    // Counts a finished request. No allocation unless (router, service, model) or the status
    // code is new to this shard.
    void record(const RequestRecord& r);

    Shard(const Shard&) = delete;
    Shard& operator=(const Shard&) = delete;
    ~Shard();

   private:
    friend class Metrics;
    explicit Shard(std::size_t max_models);

    struct Series;
    struct ServerSeries;
    struct SvHash {
      using is_transparent = void;
      std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };

    Series* find(std::string_view router, std::string_view service, std::string_view model,
                 std::size_t hash) const;
    Series* find_or_add(std::string_view router, std::string_view service, std::string_view model);
    void grow();

    std::atomic<Series*> head_{nullptr};  // every Series of this shard; read by the renderer
    // Worker-private.
    std::vector<Series*> slots_;  // open addressing, linear probing, load <= 1/2
    std::size_t size_ = 0;
    std::unordered_set<std::string, SvHash, std::equal_to<>> models_;
    std::size_t max_models_;
    std::atomic<ServerSeries*> server_head_{nullptr};  // per-server TTFT, published like head_
    std::unordered_map<std::string, ServerSeries*, SvHash, std::equal_to<>> servers_;  // worker-private
  };

  explicit Metrics(unsigned workers, Options options = {});
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  unsigned workers() const { return static_cast<unsigned>(shards_.size()); }
  Shard& shard(unsigned worker) { return *shards_[worker]; }

  // From whichever thread applied (or failed to apply) a configuration reload.
  void config_reload(bool ok);

  // Estimated time to first token quantiles (p50, p99) in milliseconds over the streamed
  // answers of the servers at `urls`, as Prometheus' histogram_quantile estimates them (linear
  // within a bucket); nullopt before the first streamed answer. Any thread.
  struct TtftQuantiles {
    double p50_ms = 0, p99_ms = 0;
  };
  std::optional<TtftQuantiles> ttft_quantiles(const std::vector<std::string_view>& urls) const;

  // The whole exposition, for GET /metrics. Any thread; typically the admin thread.
  std::string render_prometheus(const ExtraGauges& extra = {}) const;

  static constexpr std::string_view kContentType = text::kPrometheusContentType;

 private:
  std::vector<std::unique_ptr<Shard>> shards_;
  alignas(64) std::atomic<std::uint64_t> reloads_ok_{0};
  std::atomic<std::uint64_t> reloads_failed_{0};
};

using text::append_label_value;

}  // namespace modelgate::observability
