#include "bench/report.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <limits>

#include <fmt/format.h>

#include "text/json_escape.h"

namespace modelgate::bench {

double percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
}

void Report::add(const ExchangeResult& r, std::size_t turn) {
  ++sent_;
  if (!r.server.empty()) ++servers_[r.server];
  if (!r.ok) {
    ++errors_[r.error];
    return;
  }
  ttft_.push_back(r.ttft_ms);
  if (turn > 0) ttft_later_.push_back(r.ttft_ms);
  if (r.tpot_ms >= 0) tpot_.push_back(r.tpot_ms);
  e2e_.push_back(r.e2e_ms);
  output_tokens_ += r.completion_tokens >= 0 ? r.completion_tokens : r.content_events;
  if (r.prompt_tokens >= 0) {
    ++with_usage_;
    prompt_tokens_ += r.prompt_tokens;
    if (r.cached_tokens >= 0) {
      ++with_cached_;
      cached_tokens_ += r.cached_tokens;
    }
  }
}

struct Report::Summary {
  double ttft50, ttft90, ttft99, tpot50, tpot99, e2e50, e2e90, e2e99;
  double later50, later99;  // TTFT of later turns
  double req_per_s, tok_per_s;
  double hit_rate;    // NaN: no answer reported cached tokens
  double load_ratio;  // infinity: a server got nothing
  std::size_t errors;
};

Report::Summary Report::summarize() const {
  auto ttft = ttft_, tpot = tpot_, e2e = e2e_, later = ttft_later_;
  Summary s{};
  s.later50 = percentile(later, 50), s.later99 = percentile(later, 99);
  s.ttft50 = percentile(ttft, 50), s.ttft90 = percentile(ttft, 90), s.ttft99 = percentile(ttft, 99);
  s.tpot50 = percentile(tpot, 50), s.tpot99 = percentile(tpot, 99);
  s.e2e50 = percentile(e2e, 50), s.e2e90 = percentile(e2e, 90), s.e2e99 = percentile(e2e, 99);
  const double d = duration_s_ > 0 ? duration_s_ : 1;
  s.req_per_s = static_cast<double>(ttft_.size()) / d;
  s.tok_per_s = static_cast<double>(output_tokens_) / d;
  s.hit_rate = with_cached_ && prompt_tokens_ ? static_cast<double>(cached_tokens_) / prompt_tokens_
                                              : std::numeric_limits<double>::quiet_NaN();
  std::size_t lo = std::numeric_limits<std::size_t>::max(), hi = 0;
  for (const auto& [name, n] : servers_) lo = std::min(lo, n), hi = std::max(hi, n);
  if (servers_.empty() || servers_.size() < static_cast<std::size_t>(info_.fleet_size)) lo = 0;
  s.load_ratio = lo ? static_cast<double>(hi) / lo : std::numeric_limits<double>::infinity();
  s.errors = sent_ - ttft_.size();
  return s;
}

namespace {

template <typename... Args>
void append(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
}

// A finite number, or null.
std::string number(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "null"; }

void append_counts(std::string& out, const std::map<std::string, std::size_t>& counts) {
  out += '{';
  bool first = true;
  for (const auto& [name, n] : counts) {
    if (!first) out += ',';
    first = false;
    text::append_json_string(out, name);
    append(out, ":{}", n);
  }
  out += '}';
}

}  // namespace

std::string Report::json() const {
  const auto s = summarize();
  std::string out = R"({"workload":)";
  text::append_json_string(out, info_.workload);
  out += R"(,"mode":)";
  text::append_json_string(out, info_.mode);
  append(out, R"(,"rate":{},"concurrency":{},"planned":{},"sent":{},"ok":{},"errors":{},)",
         number(info_.rate), info_.concurrency, info_.planned, sent_, ttft_.size(), s.errors);
  append(out, R"("duration_s":{},"requests_per_s":{},"output_tokens_per_s":{},)", number(duration_s_),
         number(s.req_per_s), number(s.tok_per_s));
  append(out, R"("ttft_ms":{{"p50":{},"p90":{},"p99":{}}},"tpot_ms":{{"p50":{},"p99":{}}},)",
         number(s.ttft50), number(s.ttft90), number(s.ttft99), number(s.tpot50), number(s.tpot99));
  append(out, R"("e2e_ms":{{"p50":{},"p90":{},"p99":{}}},)", number(s.e2e50), number(s.e2e90),
         number(s.e2e99));
  if (!ttft_later_.empty())
    append(out, R"("ttft_later_turns_ms":{{"p50":{},"p99":{},"count":{}}},)", number(s.later50),
           number(s.later99), ttft_later_.size());
  append(out, R"("output_tokens":{},"prompt_tokens":{},"cached_tokens":{},"answers_with_usage":{},)",
         output_tokens_, prompt_tokens_, cached_tokens_, with_usage_);
  append(out, R"("answers_with_cached_tokens":{},"hit_rate":{},"load_ratio":{},"servers":)", with_cached_,
         number(s.hit_rate), number(s.load_ratio));
  append_counts(out, servers_);
  out += R"(,"error_kinds":)";
  append_counts(out, errors_);
  out += "}\n";
  return out;
}

std::string Report::table() const {
  const auto s = summarize();
  std::string out;
  const std::string how = info_.mode == "open" ? fmt::format("Poisson arrivals at {:g} req/s", info_.rate)
                                               : fmt::format("closed loop, {} in flight", info_.concurrency);
  append(out, "workload {} ({}): {} of {} requests in {:.1f} s, {} errors\n", info_.workload, how,
         sent_, info_.planned, duration_s_, s.errors);
  append(out, "  throughput      {:.2f} req/s, {:.0f} output tok/s\n", s.req_per_s, s.tok_per_s);
  append(out, "  TTFT ms         p50 {:.1f}  p90 {:.1f}  p99 {:.1f}\n", s.ttft50, s.ttft90, s.ttft99);
  if (!ttft_later_.empty())
    append(out, "    later turns   p50 {:.1f}  p99 {:.1f}  ({} requests)\n", s.later50, s.later99,
           ttft_later_.size());
  append(out, "  TPOT ms         p50 {:.2f}  p99 {:.2f}\n", s.tpot50, s.tpot99);
  append(out, "  end-to-end ms   p50 {:.1f}  p90 {:.1f}  p99 {:.1f}\n", s.e2e50, s.e2e90, s.e2e99);
  if (std::isfinite(s.hit_rate))
    append(out, "  prefix cache    {:.1f}% hit ({} of {} prompt tokens cached)\n", 100 * s.hit_rate,
           cached_tokens_, prompt_tokens_);
  else
    out += "  prefix cache    not reported by the servers (no usage.prompt_tokens_details.cached_tokens)\n";
  out += "  servers        ";
  for (const auto& [name, n] : servers_)
    append(out, " {} {:.0f}%", name, sent_ ? 100.0 * static_cast<double>(n) / sent_ : 0.0);
  append(out, "  (max/min {})\n", std::isfinite(s.load_ratio) ? fmt::format("{:.2f}", s.load_ratio) : "inf");
  for (const auto& [what, n] : errors_) append(out, "  error           {} x {}\n", n, what);
  return out;
}

}  // namespace modelgate::bench
