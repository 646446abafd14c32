// GET /metrics of an engine sim: the load signals the real engines publish, under their own
// names, so a router scraping vLLM or SGLang can be pointed at the sim unchanged.
//   vllm:   vllm:num_requests_running, vllm:num_requests_waiting, vllm:kv_cache_usage_perc (0..1),
//           vllm:prefix_cache_queries_total, vllm:prefix_cache_hits_total (tokens),
//           vllm:time_to_first_token_seconds (histogram, vLLM's buckets),
//           vllm:cache_config_info{block_size,num_gpu_blocks} (an info gauge of value 1, as vLLM's)
//   sglang: sglang:num_running_reqs, sglang:num_queue_reqs, sglang:token_usage (0..1),
//           sglang:cache_hit_rate (cached / prompt tokens since start),
//           sglang:time_to_first_token_seconds (histogram)
// Every series carries model_name="...", as both engines label theirs. The ':' in these names is
// reserved for recording rules by Prometheus convention, which `promtool check metrics` lints;
// the engines use it all the same, and so must a faithful stand-in.
#include <algorithm>
#include <iterator>
#include <tuple>

#include <fmt/format.h>

#include "text/prometheus.h"
#include "sim/engine_loop.h"

namespace modelgate::sim::detail {

namespace {

struct Names {
  std::string_view running, waiting, usage, ttft;
  std::string_view queries, hits, hit_rate;  // vllm has the counters, sglang the rate
};

constexpr Names kVllm = {"vllm:num_requests_running", "vllm:num_requests_waiting",
                         "vllm:kv_cache_usage_perc", "vllm:time_to_first_token_seconds",
                         "vllm:prefix_cache_queries", "vllm:prefix_cache_hits", {}};
constexpr Names kSglang = {"sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage",
                           "sglang:time_to_first_token_seconds", {}, {}, "sglang:cache_hit_rate"};

struct Snapshot {
  std::int64_t running = 0, waiting = 0;
  double usage = 0;
  std::uint64_t queries = 0, hits = 0;
  std::array<std::uint64_t, EngineStats::kTtftBuckets.size()> buckets{};
  std::uint64_t count = 0;
  double sum = 0;
};

Snapshot snapshot(const EngineStats* s) {
  Snapshot x;
  if (!s) return x;
  constexpr auto r = std::memory_order_relaxed;
  x.running = s->running.load(r);
  x.waiting = s->waiting.load(r);
  auto total = s->total_blocks.load(r);
  x.usage = total > 0 ? static_cast<double>(s->used_blocks.load(r)) / static_cast<double>(total) : 0;
  x.queries = s->prefix_queries.load(r);
  x.hits = s->prefix_hits.load(r);
  for (std::size_t i = 0; i < x.buckets.size(); ++i) x.buckets[i] = s->ttft_buckets[i].load(r);
  x.count = s->ttft_count.load(r);
  x.sum = static_cast<double>(s->ttft_sum_us.load(r)) / 1e6;
  return x;
}

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(out_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  // name{model_name="M"<extra>} value
  template <typename T>
  void sample(std::string_view name, std::string_view model, T value, std::string_view extra = {}) {
    out_ += name;
    out_ += "{model_name=\"";
    text::append_label_value(out_, model);
    out_ += '"';
    out_ += extra;
    fmt::format_to(std::back_inserter(out_), "}} {}\n", value);
  }

 private:
  std::string& out_;
};

}  // namespace

void EngineSet::append_metrics(std::string& out, const std::vector<std::string>& models) const {
  const Names& n = kind_ == EngineKind::vllm ? kVllm : kSglang;
  std::vector<Snapshot> shots;
  shots.reserve(models.size());
  {
    std::lock_guard lock(mutex_);
    for (const auto& m : models) {
      auto it = loops_.find(m);
      shots.push_back(snapshot(it == loops_.end() ? nullptr : &it->second->engine().stats()));
    }
  }
  Writer w(out);
  auto gauge = [&](std::string_view name, std::string_view help, auto value) {
    w.family(name, "gauge", help);
    for (std::size_t i = 0; i < models.size(); ++i) w.sample(name, models[i], value(shots[i]));
  };
  gauge(n.running, "Number of requests in the running batch.", [](const Snapshot& s) { return s.running; });
  gauge(n.waiting, "Number of requests waiting to be scheduled.", [](const Snapshot& s) { return s.waiting; });
  gauge(n.usage, "KV-cache usage: share of blocks held by requests (0 to 1).",
        [](const Snapshot& s) { return s.usage; });
  if (!n.queries.empty()) {
    std::string name;
    for (auto [base, help, hits] : {std::tuple{n.queries, "Prompt tokens looked up in the prefix cache.", false},
                                    std::tuple{n.hits, "Prompt tokens found in the prefix cache.", true}}) {
      name.assign(base).append("_total");
      w.family(name, "counter", help);
      for (std::size_t i = 0; i < models.size(); ++i)
        w.sample(name, models[i], hits ? shots[i].hits : shots[i].queries);
    }
  } else {
    gauge(n.hit_rate, "Share of prompt tokens found in the prefix cache.", [](const Snapshot& s) {
      return s.queries > 0 ? static_cast<double>(s.hits) / static_cast<double>(s.queries) : 0.0;
    });
  }
  if (kind_ == EngineKind::vllm) {
    w.family("vllm:cache_config_info", "gauge", "Information of the KV cache configuration.");
    const auto labels = fmt::format(",block_size=\"{}\",num_gpu_blocks=\"{}\"", config_.block_tokens,
                                    config_.kv_cache_tokens / std::max(1, config_.block_tokens));
    for (const auto& m : models) w.sample("vllm:cache_config_info", m, 1, labels);
  }
  w.family(n.ttft, "histogram", "Time to first token in seconds.");
  const std::string bucket = std::string(n.ttft) + "_bucket";
  std::string le;
  for (std::size_t i = 0; i < models.size(); ++i) {
    std::uint64_t cumulative = 0;
    for (std::size_t b = 0; b < EngineStats::kTtftBuckets.size(); ++b) {
      // Clamped: a step may land between the reads of a bucket and of the count.
      cumulative = std::min(cumulative + shots[i].buckets[b], shots[i].count);
      le = fmt::format(",le=\"{}\"", EngineStats::kTtftBuckets[b]);
      w.sample(bucket, models[i], cumulative, le);
    }
    w.sample(bucket, models[i], shots[i].count, ",le=\"+Inf\"");
    w.sample(std::string(n.ttft) + "_sum", models[i], shots[i].sum);
    w.sample(std::string(n.ttft) + "_count", models[i], shots[i].count);
  }
}

}  // namespace modelgate::sim::detail
