#include "balancing/load_signals.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

namespace modelgate::balancing {

namespace {

enum class Signal { waiting, running, kv_usage, cache_queries, cache_config };

struct Name {
  std::string_view name;
  Flavour flavour;
  Signal signal;
};

constexpr std::array<Name, 12> kNames = {{
    {"vllm:num_requests_waiting", Flavour::vllm, Signal::waiting},
    {"vllm:num_requests_running", Flavour::vllm, Signal::running},
    {"vllm:kv_cache_usage_perc", Flavour::vllm, Signal::kv_usage},
    {"vllm:gpu_cache_usage_perc", Flavour::vllm, Signal::kv_usage},
    {"vllm:prefix_cache_queries_total", Flavour::vllm, Signal::cache_queries},
    {"vllm:cache_config_info", Flavour::vllm, Signal::cache_config},
    {"sglang:num_queue_reqs", Flavour::sglang, Signal::waiting},
    {"sglang:num_running_reqs", Flavour::sglang, Signal::running},
    {"sglang:token_usage", Flavour::sglang, Signal::kv_usage},
    {"llamacpp:requests_deferred", Flavour::llamacpp, Signal::waiting},
    {"llamacpp:requests_processing", Flavour::llamacpp, Signal::running},
    {"tgi_queue_size", Flavour::tgi, Signal::waiting},
}};
constexpr Name kTgiRunning{"tgi_batch_current_size", Flavour::tgi, Signal::running};

const Name* find(std::string_view name, Flavour flavour) {
  auto ok = [&](const Name& n) { return n.name == name && (flavour == Flavour::any || flavour == n.flavour); };
  for (const auto& n : kNames) {
    if (ok(n)) return &n;
  }
  return ok(kTgiRunning) ? &kTgiRunning : nullptr;
}

// The value of one sample line, after the name and the labels.
std::optional<double> value_of(std::string_view rest) {
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  const auto end = rest.find_first_of(" \t\r");
  const auto token = rest.substr(0, end);
  double v = 0;
  auto [p, ec] = std::from_chars(token.data(), token.data() + token.size(), v);
  if (ec != std::errc() || p != token.data() + token.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// The number in label `name="..."` of a label set (without the braces); nullopt when absent.
std::optional<double> label_number(std::string_view labels, std::string_view name) {
  for (std::size_t at = 0; (at = labels.find(name, at)) != std::string_view::npos; at += name.size()) {
    if ((at > 0 && labels[at - 1] != ',' && labels[at - 1] != ' ') || labels.substr(at + name.size(), 2) != "=\"")
      continue;
    const auto begin = at + name.size() + 2;
    const auto end = labels.find('"', begin);
    if (end == std::string_view::npos) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(labels.data() + begin, labels.data() + end, v);
    if (ec != std::errc() || p != labels.data() + end || !std::isfinite(v)) return std::nullopt;
    return v;
  }
  return std::nullopt;
}

void add(std::optional<double>& to, double v, bool take_max) {
  to = !to ? v : take_max ? std::max(*to, v) : *to + v;
}

}  // namespace

std::optional<Flavour> parse_flavour(std::string_view word) {
  if (word == "auto") return Flavour::any;
  if (word == "vllm") return Flavour::vllm;
  if (word == "sglang") return Flavour::sglang;
  if (word == "llamacpp") return Flavour::llamacpp;
  if (word == "tgi") return Flavour::tgi;
  return std::nullopt;
}

LoadSignals parse_load_signals(std::string_view text, Flavour flavour) {
  LoadSignals out;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (line.empty() || line.front() == '#') continue;
    const auto name_end = line.find_first_of("{ \t");
    if (name_end == std::string_view::npos) continue;
    const Name* n = find(line.substr(0, name_end), flavour);
    if (!n) continue;
    std::string_view rest = line.substr(name_end);
    std::string_view labels;
    if (rest.front() == '{') {
      const auto close = rest.find('}');  // label values with '}' are not used by these engines
      if (close == std::string_view::npos) continue;
      labels = rest.substr(1, close - 1);
      rest.remove_prefix(close + 1);
    }
    if (n->signal == Signal::cache_config) {  // an info gauge: the numbers are in its labels
      const auto blocks = label_number(labels, "num_gpu_blocks");
      const auto block_size = label_number(labels, "block_size");
      if (blocks && block_size && *blocks > 0 && *block_size > 0) add(out.kv_capacity_tokens, *blocks * *block_size, true);
      continue;
    }
    const auto v = value_of(rest);
    if (!v) continue;
    switch (n->signal) {
      case Signal::waiting: add(out.waiting, *v, false); break;
      case Signal::running: add(out.running, *v, false); break;
      case Signal::kv_usage: add(out.kv_usage, *v, true); break;
      case Signal::cache_queries: add(out.cache_queries, *v, false); break;
      case Signal::cache_config: break;
    }
  }
  return out;
}

}  // namespace modelgate::balancing
