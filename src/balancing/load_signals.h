// Reading an inference engine's load from its Prometheus /metrics text.
//
// The names each engine publishes (docs/scheduling.md has the table):
//   waiting   vllm:num_requests_waiting  sglang:num_queue_reqs   llamacpp:requests_deferred  tgi_queue_size
//   running   vllm:num_requests_running  sglang:num_running_reqs llamacpp:requests_processing tgi_batch_current_size
//   KV usage  vllm:kv_cache_usage_perc (older vllm:gpu_cache_usage_perc)  sglang:token_usage   (0..1)
//   restarts  vllm:prefix_cache_queries_total (a counter: it goes back to 0 when the engine restarts)
//   KV size   vllm:cache_config_info{num_gpu_blocks="N",block_size="B"} (N x B tokens)
// `auto` accepts every name; a flavour only its own. A server serving several models publishes a
// series per model (label model_name): waiting and running are summed over them, KV usage is the
// highest (the cache is shared by the process).
//
// The text format (https://prometheus.io/docs/instrumenting/exposition_formats/): one sample per
// line, `name{labels} value [timestamp]`; `#` lines are comments. Parsed with string_views, no
// regex; a line that does not parse is skipped.
#pragma once

#include <optional>
#include <string_view>

namespace modelgate::balancing {

enum class Flavour { any, vllm, sglang, llamacpp, tgi };

// "auto" -> any; nullopt for an unknown word.
std::optional<Flavour> parse_flavour(std::string_view word);

struct LoadSignals {
  std::optional<double> waiting;
  std::optional<double> running;
  std::optional<double> kv_usage;       // 0..1
  std::optional<double> cache_queries;  // a counter that restarts with the engine
  std::optional<double> kv_capacity_tokens;  // the engine's whole KV cache
  bool any() const { return waiting || running; }
};

LoadSignals parse_load_signals(std::string_view text, Flavour flavour);

}  // namespace modelgate::balancing
