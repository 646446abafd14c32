// Per-worker recording and the Prometheus text exposition (format 0.0.4):
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
#include "observability/metrics.h"
#include "text/prometheus.h"

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <tuple>

namespace modelgate::observability {

namespace {

constexpr std::size_t kBuckets = kLatencyBucketsSeconds.size();

constexpr std::array<std::uint64_t, kBuckets> bounds_ns() {
  std::array<std::uint64_t, kBuckets> out{};
  for (std::size_t i = 0; i < kBuckets; ++i)
    out[i] = static_cast<std::uint64_t>(kLatencyBucketsSeconds[i] * 1e9 + 0.5);
  return out;
}
constexpr auto kBoundsNs = bounds_ns();

// A counter with a single writer: the increment needs no read-modify-write instruction.
struct Counter {
  std::atomic<std::uint64_t> v{0};
  void add(std::uint64_t d) { v.store(v.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
  std::uint64_t get() const { return v.load(std::memory_order_relaxed); }
};

std::uint64_t to_ns(std::chrono::nanoseconds d) { return d.count() > 0 ? static_cast<std::uint64_t>(d.count()) : 0; }

struct Histogram {
  std::array<Counter, kBuckets + 1> counts;  // not cumulative; the last is (300 s, +Inf)
  Counter sum_ns;

  void observe(std::chrono::nanoseconds d) {
    const std::uint64_t ns = to_ns(d);
    // le is inclusive: the first bound >= the value.
    const auto i = static_cast<std::size_t>(std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns) -
                                            kBoundsNs.begin());
    counts[i].add(1);
    sum_ns.add(ns);
  }
};

struct CodeCount {
  explicit CodeCount(int c, CodeCount* n) : code(c), next(n) {}
  const int code;
  Counter n;
  CodeCount* const next;
};

std::size_t mix(std::size_t h, std::size_t v) { return h ^ (v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2)); }

std::size_t key_hash(std::string_view router, std::string_view service, std::string_view model) {
  std::hash<std::string_view> hs;
  return mix(mix(hs(router), hs(service)), hs(model));
}


}  // namespace

// ---------------------------------------------------------------------------------------------
// Recording

struct alignas(64) Metrics::Shard::Series {
  Series(std::string_view r, std::string_view s, std::string_view m, std::size_t h)
      : router(r), service(s), model(m), hash(h) {}
  ~Series() {
    for (CodeCount* c = codes.load(std::memory_order_relaxed); c;) {
      CodeCount* next = c->next;
      delete c;
      c = next;
    }
  }

  const std::string router, service, model;
  const std::size_t hash;
  std::atomic<CodeCount*> codes{nullptr};  // published like the series list
  Histogram duration;
  Histogram ttft;
  Counter prompt_tokens, completion_tokens, retries;
  Series* next = nullptr;  // set before publication, then constant
};

struct Metrics::Shard::ServerSeries {
  explicit ServerSeries(std::string_view u) : url(u) {}
  const std::string url;
  Histogram ttft;
  ServerSeries* next = nullptr;  // set before publication, then constant
};

Metrics::Shard::Shard(std::size_t max_models) : slots_(64, nullptr), max_models_(max_models) {}

Metrics::Shard::~Shard() {
  for (Series* s = head_.load(std::memory_order_relaxed); s;) {
    Series* next = s->next;
    delete s;
    s = next;
  }
  for (ServerSeries* s = server_head_.load(std::memory_order_relaxed); s;) {
    ServerSeries* next = s->next;
    delete s;
    s = next;
  }
}

Metrics::Shard::Series* Metrics::Shard::find(std::string_view router, std::string_view service,
                                             std::string_view model, std::size_t hash) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    Series* s = slots_[i];
    if (!s) return nullptr;
    if (s->hash == hash && s->model == model && s->service == service && s->router == router) return s;
  }
}

void Metrics::Shard::grow() {
  std::vector<Series*> bigger(slots_.size() * 2, nullptr);
  const std::size_t mask = bigger.size() - 1;
  for (Series* s : slots_) {
    if (!s) continue;
    std::size_t i = s->hash & mask;
    while (bigger[i]) i = (i + 1) & mask;
    bigger[i] = s;
  }
  slots_.swap(bigger);
}

Metrics::Shard::Series* Metrics::Shard::find_or_add(std::string_view router, std::string_view service,
                                                     std::string_view model) {
  std::size_t hash = key_hash(router, service, model);
  if (Series* s = find(router, service, model, hash)) return s;

  // A new label combination: the only place that allocates.
  if (models_.find(model) == models_.end()) {
    if (models_.size() >= max_models_) {
      model = "other";
      hash = key_hash(router, service, model);
      if (Series* s = find(router, service, model, hash)) return s;
    } else {
      models_.emplace(model);
    }
  }
  if ((size_ + 1) * 2 > slots_.size()) grow();
  auto* s = new Series(router, service, model, hash);
  const std::size_t mask = slots_.size() - 1;
  std::size_t i = hash & mask;
  while (slots_[i]) i = (i + 1) & mask;
  slots_[i] = s;
  ++size_;
  s->next = head_.load(std::memory_order_relaxed);
  head_.store(s, std::memory_order_release);
  return s;
}

void Metrics::Shard::record(const RequestRecord& r) {
  Series* s = find_or_add(r.router, r.service, r.model);
  CodeCount* head = s->codes.load(std::memory_order_relaxed);
  CodeCount* c = head;
  while (c && c->code != r.status) c = c->next;
  if (!c) {
    c = new CodeCount(r.status, head);
    s->codes.store(c, std::memory_order_release);
  }
  c->n.add(1);
  s->duration.observe(r.duration);
  if (r.ttft) {
    s->ttft.observe(*r.ttft);
    if (!r.upstream.empty()) {
      auto it = servers_.find(std::string_view(r.upstream));
      if (it == servers_.end()) {  // a server new to this shard: the only allocation
        auto* fresh = new ServerSeries(r.upstream);
        fresh->next = server_head_.load(std::memory_order_relaxed);
        server_head_.store(fresh, std::memory_order_release);
        it = servers_.emplace(r.upstream, fresh).first;
      }
      it->second->ttft.observe(*r.ttft);
    }
  }
  if (r.prompt_tokens) s->prompt_tokens.add(*r.prompt_tokens);
  if (r.completion_tokens) s->completion_tokens.add(*r.completion_tokens);
  if (r.attempts > 1) s->retries.add(r.attempts - 1);
}

Metrics::Metrics(unsigned workers, Options options) {
  shards_.reserve(std::max(workers, 1u));
  for (unsigned i = 0; i < std::max(workers, 1u); ++i)
    shards_.push_back(std::unique_ptr<Shard>(new Shard(options.max_models)));
}

Metrics::~Metrics() = default;

void Metrics::config_reload(bool ok) {
  (ok ? reloads_ok_ : reloads_failed_).fetch_add(1, std::memory_order_relaxed);
}

std::optional<Metrics::TtftQuantiles> Metrics::ttft_quantiles(
    const std::vector<std::string_view>& urls) const {
  std::array<std::uint64_t, kBuckets + 1> counts{};
  std::uint64_t total = 0;
  for (const auto& shard : shards_) {
    for (auto* s = shard->server_head_.load(std::memory_order_acquire); s; s = s->next) {
      if (std::find(urls.begin(), urls.end(), std::string_view(s->url)) == urls.end()) continue;
      for (std::size_t i = 0; i <= kBuckets; ++i) {
        const auto n = s->ttft.counts[i].get();
        counts[i] += n;
        total += n;
      }
    }
  }
  if (total == 0) return std::nullopt;
  auto quantile = [&](double q) {
    const double rank = q * static_cast<double>(total);
    double below = 0;
    for (std::size_t i = 0; i <= kBuckets; ++i) {
      const double in = static_cast<double>(counts[i]);
      if (below + in >= rank && in > 0) {
        if (i == kBuckets) return kLatencyBucketsSeconds.back() * 1000;  // past the last bound
        const double lower = i == 0 ? 0 : kLatencyBucketsSeconds[i - 1];
        return (lower + (kLatencyBucketsSeconds[i] - lower) * (rank - below) / in) * 1000;
      }
      below += in;
    }
    return kLatencyBucketsSeconds.back() * 1000;
  };
  return TtftQuantiles{quantile(0.5), quantile(0.99)};
}

// ---------------------------------------------------------------------------------------------
// Rendering

namespace {

struct HistogramSum {
  std::array<std::uint64_t, kBuckets + 1> counts{};
  std::uint64_t sum_ns = 0;

  void add(const Histogram& h) {
    for (std::size_t i = 0; i <= kBuckets; ++i) counts[i] += h.counts[i].get();
    sum_ns += h.sum_ns.get();
  }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto c : counts) n += c;
    return n;
  }
};

using Label = std::pair<std::string_view, std::string_view>;

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void labels(std::string& out, std::initializer_list<Label> ls) {
  if (ls.size() == 0) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : ls) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_label_value(out, v);
    out += '"';
  }
  out += '}';
}

template <class V>
void sample(std::string& out, std::string_view name, std::initializer_list<Label> ls, V value) {
  out += name;
  labels(out, ls);
  fmt::format_to(std::back_inserter(out), " {}\n", value);
}

std::string le_text(std::size_t i) {
  return i < kBuckets ? fmt::format("{}", kLatencyBucketsSeconds[i]) : std::string("+Inf");
}

void histogram(std::string& out, std::string_view name, std::initializer_list<Label> ls,
               const HistogramSum& h) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= kBuckets; ++i) {
    cumulative += h.counts[i];
    out += name;
    out += "_bucket{";
    for (const auto& [k, v] : ls) {
      out += k;
      out += "=\"";
      append_label_value(out, v);
      out += "\",";
    }
    fmt::format_to(std::back_inserter(out), "le=\"{}\"}} {}\n", le_text(i), cumulative);
  }
  sample(out, fmt::format("{}_sum", name), ls, static_cast<double>(h.sum_ns) / 1e9);
  sample(out, fmt::format("{}_count", name), ls, cumulative);
}

std::string read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Process metrics as the Prometheus client libraries define them, from /proc (proc(5)).
void process_metrics(std::string& out) {
  const std::string stat = read_file("/proc/self/stat");
  const auto close = stat.rfind(')');  // the command name may contain spaces and parentheses
  if (close == std::string::npos) return;
  std::istringstream fields(stat.substr(close + 2));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string tok; fields >> tok;) f.push_back(tok);
  if (f.size() < 22) return;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const double utime = std::stod(f[11]), stime = std::stod(f[12]), start = std::stod(f[19]);
  const double vsize = std::stod(f[20]), rss = std::stod(f[21]);

  double btime = 0;
  std::istringstream sys(read_file("/proc/stat"));
  for (std::string line; std::getline(sys, line);) {
    if (line.starts_with("btime ")) btime = std::stod(line.substr(6));
  }

  family(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
  sample(out, "process_cpu_seconds_total", {}, (utime + stime) / ticks);
  family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  sample(out, "process_resident_memory_bytes", {}, static_cast<std::uint64_t>(rss * page));
  family(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  sample(out, "process_virtual_memory_bytes", {}, static_cast<std::uint64_t>(vsize));

  std::error_code ec;
  std::size_t fds = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec))
    ++fds;
  if (!ec) {
    family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
    sample(out, "process_open_fds", {}, fds);
  }
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    sample(out, "process_max_fds", {},
           rl.rlim_cur == RLIM_INFINITY ? std::uint64_t{0} : static_cast<std::uint64_t>(rl.rlim_cur));
  }
  if (btime > 0) {
    family(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
    sample(out, "process_start_time_seconds", {}, btime + start / ticks);
  }
}

void render_tcp(std::string& out, const std::vector<TcpServerGauge>& servers) {
  if (servers.empty()) return;
  struct Series {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t (*value)(const TcpServerGauge&);
  };
  static constexpr Series kSeries[] = {
      {"modelgate_tcp_server_up", "gauge", "Whether the TCP server takes new connections (1) or not (0).",
       [](const TcpServerGauge& g) -> std::uint64_t { return g.up ? 1 : 0; }},
      {"modelgate_tcp_connections_open", "gauge", "Connections relayed to the server now.",
       [](const TcpServerGauge& g) { return g.open; }},
      {"modelgate_tcp_connections_total", "counter", "Connections relayed to the server.",
       [](const TcpServerGauge& g) { return g.total; }},
      {"modelgate_tcp_bytes_in_total", "counter", "Bytes from clients relayed to the server.",
       [](const TcpServerGauge& g) { return g.bytes_in; }},
      {"modelgate_tcp_bytes_out_total", "counter", "Bytes from the server relayed to clients.",
       [](const TcpServerGauge& g) { return g.bytes_out; }},
      {"modelgate_tcp_connect_failures_total", "counter",
       "Connections to the server that failed or timed out (the next server was tried).",
       [](const TcpServerGauge& g) { return g.connect_failures; }},
  };
  for (const auto& series : kSeries) {
    family(out, series.name, series.type, series.help);
    for (const auto& s : servers) sample(out, series.name, {{"service", s.service}, {"server", s.server}}, series.value(s));
  }
}

void render_scheduling(std::string& out, const std::vector<ServerGauge>& servers) {
  if (std::none_of(servers.begin(), servers.end(), [](const ServerGauge& s) { return s.scheduling.has_value(); }))
    return;
  struct Series {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const SchedulingGauge&);  // negative: not known, not rendered
  };
  static constexpr Series kSeries[] = {
      {"modelgate_server_cache_predicted_tokens_total", "counter",
       "Prompt tokens the prefix index predicted cached on the server, over answers that reported cached tokens.",
       [](const SchedulingGauge& g) { return static_cast<double>(g.predicted_cached); }},
      {"modelgate_server_cache_realised_tokens_total", "counter",
       "Of the predicted cached tokens, those the server reported cached (usage.prompt_tokens_details.cached_tokens).",
       [](const SchedulingGauge& g) { return static_cast<double>(g.realised_cached); }},
      {"modelgate_server_cache_checked_answers_total", "counter",
       "Answers whose reported cached tokens were compared with the prediction.",
       [](const SchedulingGauge& g) { return static_cast<double>(g.checked_answers); }},
      {"modelgate_server_cache_index_resets_total", "counter",
       "Times the server's prefix index was dropped (restart seen, or predictions not delivered).",
       [](const SchedulingGauge& g) { return static_cast<double>(g.index_resets); }},
      {"modelgate_server_prefill_rate_tokens_per_second", "gauge",
       "The server's prefill rate as learned from its streamed answers (0 until learned).",
       [](const SchedulingGauge& g) { return g.prefill_rate; }},
      {"modelgate_server_cache_modelled_tokens", "gauge",
       "Tokens the prefix index models the server as caching (the engine's KV size when scraped, shrunk when "
       "predictions are not delivered).",
       [](const SchedulingGauge& g) { return static_cast<double>(g.modelled_tokens); }},
      {"modelgate_server_pending_prompt_tokens", "gauge",
       "Uncached prompt tokens of requests sent to the server that have not had their first token, as the cost "
       "model counts them.",
       [](const SchedulingGauge& g) { return static_cast<double>(g.pending_tokens); }},
      {"modelgate_server_waiting_requests", "gauge", "Requests waiting in the server's queue (scraped).",
       [](const SchedulingGauge& g) { return static_cast<double>(g.waiting); }},
      {"modelgate_server_running_requests", "gauge", "Requests the server is running (scraped).",
       [](const SchedulingGauge& g) { return static_cast<double>(g.running); }},
      {"modelgate_server_kv_cache_usage_ratio", "gauge", "The server's KV cache usage, 0 to 1 (scraped).",
       [](const SchedulingGauge& g) { return g.kv_usage; }},
  };
  for (const auto& series : kSeries) {
    family(out, series.name, series.type, series.help);
    for (const auto& s : servers) {
      if (!s.scheduling) continue;
      const double v = series.value(*s.scheduling);
      if (v >= 0) sample(out, series.name, {{"service", s.service}, {"server", s.server}}, v);
    }
  }
}

}  // namespace

std::string Metrics::render_prometheus(const ExtraGauges& extra) const {
  using Key3 = std::tuple<std::string_view, std::string_view, std::string_view>;
  std::map<std::tuple<std::string_view, std::string_view, std::string_view, int>, std::uint64_t> requests;
  std::map<Key3, HistogramSum> durations;
  std::map<std::pair<std::string_view, std::string_view>, HistogramSum> ttfts;
  std::map<std::string_view, std::pair<std::uint64_t, std::uint64_t>> tokens;
  std::map<std::string_view, std::uint64_t> retries;

  // Series are never freed while the Metrics lives, so views into them stay valid here.
  for (const auto& shard : shards_) {
    for (const Shard::Series* s = shard->head_.load(std::memory_order_acquire); s; s = s->next) {
      for (const CodeCount* c = s->codes.load(std::memory_order_acquire); c; c = c->next)
        requests[{s->router, s->service, s->model, c->code}] += c->n.get();
      durations[{s->router, s->service, s->model}].add(s->duration);
      ttfts[{s->service, s->model}].add(s->ttft);
      auto& t = tokens[s->model];
      t.first += s->prompt_tokens.get();
      t.second += s->completion_tokens.get();
      retries[s->service] += s->retries.get();
    }
  }

  std::string out;
  out.reserve(4096 + requests.size() * 160 + durations.size() * 2400);

  family(out, "modelgate_requests_total", "counter", "Requests answered, by router, service, model and status code.");
  for (const auto& [k, n] : requests) {
    const auto& [router, service, model, code] = k;
    const std::string code_text = std::to_string(code);
    sample(out, "modelgate_requests_total",
           {{"router", router}, {"service", service}, {"model", model}, {"code", code_text}}, n);
  }

  family(out, "modelgate_request_duration_seconds", "histogram",
         "Time from the request header to the last response byte, in seconds.");
  for (const auto& [k, h] : durations) {
    const auto& [router, service, model] = k;
    histogram(out, "modelgate_request_duration_seconds",
              {{"router", router}, {"service", service}, {"model", model}}, h);
  }

  family(out, "modelgate_time_to_first_token_seconds", "histogram",
         "Time from the request header to the first streamed data event, in seconds (streams only).");
  for (const auto& [k, h] : ttfts) {
    if (h.count() == 0) continue;
    histogram(out, "modelgate_time_to_first_token_seconds", {{"service", k.first}, {"model", k.second}}, h);
  }

  family(out, "modelgate_tokens_total", "counter", "Tokens reported by the model servers' usage, by model and kind.");
  for (const auto& [model, t] : tokens) {
    if (t.first == 0 && t.second == 0) continue;
    sample(out, "modelgate_tokens_total", {{"model", model}, {"kind", "prompt"}}, t.first);
    sample(out, "modelgate_tokens_total", {{"model", model}, {"kind", "completion"}}, t.second);
  }

  family(out, "modelgate_retries_total", "counter",
         "Requests sent again to another server of the service after a failed attempt.");
  for (const auto& [service, n] : retries) sample(out, "modelgate_retries_total", {{"service", service}}, n);

  family(out, "modelgate_config_reloads_total", "counter", "Configuration reloads, by result.");
  sample(out, "modelgate_config_reloads_total", {{"result", "success"}},
         reloads_ok_.load(std::memory_order_relaxed));
  sample(out, "modelgate_config_reloads_total", {{"result", "failure"}},
         reloads_failed_.load(std::memory_order_relaxed));

  if (!extra.servers.empty()) {
    family(out, "modelgate_server_up", "gauge", "Whether the server takes requests (1) or not (0).");
    for (const auto& s : extra.servers)
      sample(out, "modelgate_server_up", {{"service", s.service}, {"server", s.server}}, s.up ? 1 : 0);
    family(out, "modelgate_server_inflight", "gauge", "Requests sent to the server and not finished.");
    for (const auto& s : extra.servers)
      sample(out, "modelgate_server_inflight", {{"service", s.service}, {"server", s.server}}, s.inflight);
    render_scheduling(out, extra.servers);
  }
  render_tcp(out, extra.tcp_servers);
  if (extra.access_log_dropped) {
    family(out, "modelgate_access_log_dropped_total", "counter",
           "Access log records dropped because the writer fell behind.");
    sample(out, "modelgate_access_log_dropped_total", {}, *extra.access_log_dropped);
  }

  process_metrics(out);
  return out;
}

}  // namespace modelgate::observability
