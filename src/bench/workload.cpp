#include "bench/workload.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace modelgate::bench {

namespace {

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Text streams: what a text is (system prompt of group g, question i, ...) is part of its stream
// number, so no two texts of a run start alike by accident.
constexpr std::uint64_t kSystem = 1ull << 40, kQuestion = 2ull << 40;

std::vector<Script> single_turn(const WorkloadOptions& o, const std::vector<int>& group_of) {
  std::vector<Script> out;
  out.reserve(group_of.size());
  for (std::size_t i = 0; i < group_of.size(); ++i) {
    const int g = group_of[i];
    out.push_back({"g" + std::to_string(g), make_text(o.seed, kSystem + g, o.system_tokens),
                   {make_text(o.seed, kQuestion + i, o.question_tokens)}});
  }
  return out;
}

// Zipf(s) over 1..n by inverse transform of the cumulative weights.
std::vector<int> zipf_groups(int n, double s, std::size_t count, std::mt19937_64& rng) {
  std::vector<double> cdf(n);
  double total = 0;
  for (int k = 0; k < n; ++k) cdf[k] = total += 1.0 / std::pow(k + 1, s);
  std::uniform_real_distribution<double> u(0, total);
  std::vector<int> out(count);
  for (auto& g : out) g = static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin());
  return out;
}

}  // namespace

std::optional<WorkloadKind> parse_workload(std::string_view name) {
  for (auto k : {WorkloadKind::shared_prefix, WorkloadKind::multi_turn, WorkloadKind::hot_prefix,
                 WorkloadKind::uniform})
    if (workload_name(k) == name) return k;
  return std::nullopt;
}

std::string_view workload_name(WorkloadKind kind) {
  switch (kind) {
    case WorkloadKind::shared_prefix: return "shared-prefix";
    case WorkloadKind::multi_turn: return "multi-turn";
    case WorkloadKind::hot_prefix: return "hot-prefix";
    case WorkloadKind::uniform: return "uniform";
  }
  return "?";
}

std::string make_text(std::uint64_t seed, std::uint64_t stream, int tokens) {
  std::string out;
  out.reserve(static_cast<std::size_t>(std::max(tokens, 0)) * 4);
  std::uint64_t state = splitmix(seed * 0x2545f4914f6cdd1dull ^ stream);
  for (int i = 0; i < tokens; ++i) {
    state = splitmix(state);
    out += static_cast<char>('a' + state % 26);
    out += static_cast<char>('a' + (state >> 8) % 26);
    out += static_cast<char>('a' + (state >> 16) % 26);
    out += ' ';
  }
  return out;
}

std::vector<Script> make_workload(const WorkloadOptions& o) {
  std::mt19937_64 rng(o.seed);
  const std::size_t n = static_cast<std::size_t>(o.groups) * static_cast<std::size_t>(o.prompts);
  switch (o.kind) {
    case WorkloadKind::shared_prefix: {
      std::vector<int> group_of(n);
      for (std::size_t i = 0; i < n; ++i) group_of[i] = static_cast<int>(i / o.prompts);
      std::shuffle(group_of.begin(), group_of.end(), rng);
      return single_turn(o, group_of);
    }
    case WorkloadKind::hot_prefix:
      return single_turn(o, zipf_groups(o.groups, o.zipf, n, rng));
    case WorkloadKind::uniform: {
      std::vector<Script> out;
      out.reserve(n);
      for (std::size_t i = 0; i < n; ++i)
        out.push_back({"u" + std::to_string(i),
                       make_text(o.seed, kSystem + (1ull << 32) + i, o.system_tokens),
                       {make_text(o.seed, kQuestion + i, o.question_tokens)}});
      return out;
    }
    case WorkloadKind::multi_turn: {
      std::vector<Script> out(o.conversations);
      for (int c = 0; c < o.conversations; ++c) {
        out[c].session = "c" + std::to_string(c);
        out[c].system = make_text(o.seed, kSystem + (2ull << 32) + c, o.system_tokens);
        for (int t = 0; t < o.turns; ++t)
          out[c].questions.push_back(
              make_text(o.seed, kQuestion + (static_cast<std::uint64_t>(c) << 16) + t, o.question_tokens));
      }
      return out;
    }
  }
  return {};
}

std::size_t request_count(const std::vector<Script>& scripts) {
  std::size_t n = 0;
  for (const auto& s : scripts) n += s.questions.size();
  return n;
}

}  // namespace modelgate::bench
