// Microbenchmark of cache_aware's per-request cost for an 8 KB chat prompt: building the prompt's
// block chain from the body, and the pick with the prefix index (match on every candidate, insert
// on the chosen one). Besides google-benchmark's mean, each benchmark reports the p50 and p99 of
// single operations (counters p50_ns, p99_ns), since the target is a tail figure (< 5 us p99).
//
//   build/pick_benchmark --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "balancing/cache_aware.h"
#include "balancing/feedback.h"
#include "balancing/prompt_chain.h"

namespace mb = modelgate::balancing;

namespace {

constexpr int kServers = 4;
constexpr int kGroups = 64;

std::string body(int group, int question, std::size_t bytes) {
  std::string system;
  while (system.size() < bytes) system += "Group " + std::to_string(group) + " system prompt, rule " + std::to_string(system.size()) + ". ";
  system.resize(bytes);
  return R"({"model":"llama-3-8b","stream":true,"messages":[{"role":"system","content":")" + system +
         R"("},{"role":"user","content":"question )" + std::to_string(question) + R"("}]})";
}

struct Fleet {
  mb::ServerList servers;
  std::vector<std::uint32_t> candidates;
  Fleet() {
    for (int i = 0; i < kServers; ++i) {
      modelgate::config::Server s;
      s.host = "127.0.0.1";
      s.port = static_cast<std::uint16_t>(8000 + i);
      s.url = "http://127.0.0.1:" + std::to_string(s.port);
      servers.push_back(std::make_shared<mb::ServerState>(s));
      servers.back()->llm.index.store(new mb::PrefixIndex((16u << 20) / kServers));
      candidates.push_back(static_cast<std::uint32_t>(i));
    }
  }
};

void report(benchmark::State& state, std::vector<double>& ns) {
  std::sort(ns.begin(), ns.end());
  state.counters["p50_ns"] = ns[ns.size() / 2];
  state.counters["p99_ns"] = ns[ns.size() * 99 / 100];
}

void BM_BuildChain8KB(benchmark::State& state) {
  std::vector<std::string> bodies;
  for (int g = 0; g < kGroups; ++g) bodies.push_back(body(g, g, 8000));
  mb::PromptChain chain;
  std::vector<double> ns;
  ns.reserve(1 << 20);
  std::size_t k = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    mb::build_prompt_chain(bodies[k++ % bodies.size()], chain);
    const auto t1 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(chain.blocks.data());
    if (ns.size() < ns.capacity()) ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  report(state, ns);
}
BENCHMARK(BM_BuildChain8KB);

void BM_PickWithIndex8KB(benchmark::State& state) {
  Fleet fleet;
  mb::CacheAware balancer(fleet.servers, {});
  std::vector<mb::PromptChain> chains(kGroups * 4);
  for (std::size_t i = 0; i < chains.size(); ++i) mb::build_prompt_chain(body(static_cast<int>(i % kGroups), static_cast<int>(i), 8000), chains[i]);
  for (const auto& c : chains) {  // warm: every group already placed
    mb::PickNote note;
    const auto s = balancer.pick({fleet.candidates, 0, &c, &note});
    mb::QueueCharge done(*fleet.servers[s], note);
  }
  std::vector<double> ns;
  ns.reserve(1 << 20);
  std::size_t k = 0;
  for (auto _ : state) {
    const auto& c = chains[k++ % chains.size()];
    mb::PickNote note;
    const auto t0 = std::chrono::steady_clock::now();
    const auto s = balancer.pick({fleet.candidates, 0, &c, &note});
    const auto t1 = std::chrono::steady_clock::now();
    mb::QueueCharge done(*fleet.servers[s], note);
    if (ns.size() < ns.capacity()) ns.push_back(std::chrono::duration<double, std::nano>(t1 - t0).count());
  }
  report(state, ns);
}
BENCHMARK(BM_PickWithIndex8KB);

}  // namespace

BENCHMARK_MAIN();
