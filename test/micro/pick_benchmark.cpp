// Microbenchmarks of the pick.
//
// Pool/<strategy>/<servers>/tried:<0|1>: picks per second through Pool (the candidate filter and
// then the strategy) for every strategy of config::kStrategies, on pools of 2, 64 and 1 024
// servers, with no server tried yet and with one tried (a retry). Servers carry small unequal
// in-flight counts (so least_request and p2c compare real loads, not ties), fresh scraped signals
// (so least_load uses them, not its fallback), and a prefix index (cache_aware, with a 1 KB chat
// prompt). items_per_second is the figure: picks per second on one thread.
//
// CacheAware: cache_aware's per-request cost for an 8 KB chat prompt: building the prompt's block
// chain from the body, and the pick with the prefix index (match on every candidate, insert on the
// chosen one). Besides google-benchmark's mean, these report the p50 and p99 of single operations
// (counters p50_ns, p99_ns), since the target is a tail figure (< 5 us p99).
//
//   build/pick_benchmark --benchmark_filter=Pool/ --benchmark_min_time=0.5
//   build/pick_benchmark --benchmark_filter=CacheAware --benchmark_min_time=2
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "balancing/cache_aware.h"
#include "balancing/feedback.h"
#include "balancing/hash_key.h"
#include "balancing/pool.h"
#include "balancing/prompt_chain.h"
#include "config/config.h"
#include "../unit/balancing/server_list.h"

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
BENCHMARK(BM_BuildChain8KB)->Name("CacheAware/BuildChain8KB");

// Times single picks of `chains` in turn (p50 and p99 of each); `before` runs untimed before each.
template <class Before>
void time_picks(benchmark::State& state, Fleet& fleet, mb::Balancer& balancer,
                const std::vector<mb::PromptChain>& chains, Before&& before) {
  std::vector<double> ns;
  ns.reserve(1 << 20);
  std::size_t k = 0;
  for (auto _ : state) {
    before();
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
  time_picks(state, fleet, balancer, chains, [] {});
}
BENCHMARK(BM_PickWithIndex8KB)->Name("CacheAware/PickWithIndex8KB");

// A prompt no server holds (every index emptied before each pick, untimed): the rendezvous
// placement of a new prefix, then the insert.
void BM_PickNewPrefix8KB(benchmark::State& state) {
  Fleet fleet;
  mb::CacheAware balancer(fleet.servers, {});
  std::vector<mb::PromptChain> chains(kGroups);
  for (std::size_t i = 0; i < chains.size(); ++i) mb::build_prompt_chain(body(static_cast<int>(i), 0, 8000), chains[i]);
  time_picks(state, fleet, balancer, chains, [&] {
    for (auto& server : fleet.servers) server->llm.index.load()->reset();
  });
}
BENCHMARK(BM_PickNewPrefix8KB)->Name("CacheAware/PickNewPrefix8KB");

// A pool of n servers with every signal a strategy reads set to plausible values.
mb::ServerList pool_servers(int n) {
  mb::ServerList list = modelgate::test::alike_servers(n);
  for (int i = 0; i < n; ++i) {
    auto& state = list[i];
    const auto mixed = mb::mix64(static_cast<std::uint64_t>(i));
    state->inflight = static_cast<int>(mixed % 8);
    auto& llm = state->llm;
    llm.waiting = static_cast<int>(mixed % 5);
    llm.running = static_cast<int>((mixed >> 8) % 16);
    llm.kv_permille = static_cast<int>((mixed >> 16) % 1000);
    llm.scraped_at_ns = mb::steady_now_ns();
    llm.index.store(new mb::PrefixIndex(1u << 20));
  }
  return list;
}

void BM_Pool(benchmark::State& state, std::string_view strategy, int servers, bool one_tried) {
  const auto list = pool_servers(servers);
  mb::BalancerOptions options;
  options.seed = 42;
  options.metrics_max_age_ns = INT64_MAX / 2;  // the signals set above stay fresh
  mb::Pool pool(list, mb::make_balancer(strategy, list, options));
  mb::PromptChain prompt;
  mb::build_prompt_chain(body(1, 1, 1000), prompt);
  mb::TriedSet tried;
  if (one_tried) tried.insert(static_cast<std::uint32_t>(servers / 2));
  mb::PickRequest request;
  request.tried = &tried;
  if (mb::wants_prompt(strategy)) request.prompt = &prompt;
  std::uint64_t key = 0;
  for (auto _ : state) {
    request.key_hash = mb::mix64(++key);
    benchmark::DoNotOptimize(pool.pick(request).server);
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  for (std::string_view strategy : modelgate::config::kStrategies) {
    for (int servers : {2, 64, 1024}) {
      for (bool one_tried : {false, true}) {
        const auto name = "Pool/" + std::string(strategy) + "/" + std::to_string(servers) + "/tried:" +
                          std::to_string(one_tried);
        benchmark::RegisterBenchmark(name.c_str(), BM_Pool, strategy, servers, one_tried);
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
