// Microbenchmark of one model-list change on a 1 000-server pool: what a running gateway does when
// discovery sees one server load or unload a model. The control thread rebuilds the snapshot from
// the compiled config (rules are not parsed again); each worker adopts it, keeping its pools
// (worker_pools.h); the first pick of a model after the change recomputes that model's candidate
// set (pool.h). Steady-state picks are measured beside it, and the full rebuild of a balancer that
// adopt() avoids.
//
//   build/membership_benchmark --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "balancing/pool.h"
#include "runtime/catalogue.h"
#include "runtime/snapshot.h"
#include "runtime/worker_pools.h"

namespace mb = modelgate::balancing;
namespace mc = modelgate::config;
namespace mr = modelgate::runtime;

namespace {

constexpr int kServers = 1000;
constexpr int kModels = 10;  // server i serves m-all and m-(i % kModels)

mc::Config fleet(const std::string& strategy) {
  mc::Config cfg;
  mc::EntryPoint ep;
  ep.name = "web";
  ep.host = "127.0.0.1";
  cfg.entryPoints["web"] = ep;
  mc::Router r;
  r.name = "all";
  r.rule = "PathPrefix(`/v1`)";
  r.service = "gpus";
  r.compiled = std::make_shared<const modelgate::routing::Rule>(
      std::get<modelgate::routing::Rule>(modelgate::routing::parse_rule(r.rule)));
  cfg.routers["all"] = r;
  mc::Service svc;
  svc.name = "gpus";
  svc.loadBalancer.strategy = strategy;
  svc.loadBalancer.discoverModels.enabled = true;
  for (int i = 0; i < kServers; ++i) {
    mc::Server s;
    s.host = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1);
    s.port = 8000;
    s.url = "http://" + s.host + ":8000";
    svc.loadBalancer.servers.push_back(s);
  }
  cfg.services["gpus"] = svc;
  return cfg;
}

std::shared_ptr<const mr::Snapshot> build(mc::Config cfg, mr::ServerRegistry& registry) {
  return std::get<std::shared_ptr<const mr::Snapshot>>(mr::build_snapshot(std::move(cfg), registry));
}

struct Fleet {
  mr::ServerRegistry registry;
  std::shared_ptr<const mr::Snapshot> snap;
  mr::WorkerPools worker;
  mr::WorkerPools::Pools pools;
  bool extra = false;

  explicit Fleet(const std::string& strategy) {
    snap = build(fleet(strategy), registry);
    for (int i = 0; i < kServers; ++i) set_models(i, false);
    snap = build(snap->config, registry);
    pools = worker.adopt(*snap);
  }
  void set_models(int i, bool with_extra) {
    snap->services[0].servers[i]->update_info([&](mb::ServerState::Info& info) {
      info.models = {"m-all", "m-" + std::to_string(i % kModels)};
      if (with_extra) info.models.push_back("m-extra");
      info.models_known = true;
    });
  }
  mb::ServerState* pick(const std::string& model, std::uint64_t key) {
    const auto* allowed = mr::servers_for(*snap, model);
    mb::PickRequest request{{}, key, *allowed, true};
    return pools[0]->pick(request).server;
  }
  // Server 0 loads or unloads m-extra: the snapshot is rebuilt, the worker adopts it.
  void change() {
    extra = !extra;
    set_models(0, extra);
    snap = build(snap->config, registry);
    pools = worker.adopt(*snap);
  }
};

const char* strategy_of(const benchmark::State& state) {
  return state.range(0) == 0 ? "round_robin" : "consistent_hash";
}

// The whole change as one worker sees it: rebuild, adopt, the next pick of m-3 and of m-all.
void BM_ModelListChange(benchmark::State& state) {
  Fleet f(strategy_of(state));
  std::uint64_t key = 0;
  for (auto _ : state) {
    f.change();
    benchmark::DoNotOptimize(f.pick("m-3", ++key));
    benchmark::DoNotOptimize(f.pick("m-all", ++key));
  }
  state.SetLabel(strategy_of(state));
}
BENCHMARK(BM_ModelListChange)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Its parts: the control thread's snapshot rebuild, and one worker's adopt() plus its next picks.
void BM_SnapshotRebuild(benchmark::State& state) {
  Fleet f(strategy_of(state));
  for (auto _ : state) {
    f.extra = !f.extra;
    f.set_models(0, f.extra);
    benchmark::DoNotOptimize(f.snap = build(f.snap->config, f.registry));
  }
  state.SetLabel(strategy_of(state));
}
BENCHMARK(BM_SnapshotRebuild)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

void BM_WorkerAdopt(benchmark::State& state) {
  Fleet f(strategy_of(state));
  std::vector<std::shared_ptr<const mr::Snapshot>> snaps;
  for (int i = 0; i < 2; ++i) {
    f.set_models(0, i == 1);
    snaps.push_back(build(f.snap->config, f.registry));
  }
  std::uint64_t key = 0;
  std::size_t k = 0;
  for (auto _ : state) {
    f.snap = snaps[k++ % 2];
    f.pools = f.worker.adopt(*f.snap);
    benchmark::DoNotOptimize(f.pick("m-3", ++key));
    benchmark::DoNotOptimize(f.pick("m-all", ++key));
  }
  state.SetLabel(strategy_of(state));
}
BENCHMARK(BM_WorkerAdopt)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// What adopt() avoids: building the service's balancer again (a hash ring is sorted anew).
void BM_BalancerRebuild(benchmark::State& state) {
  Fleet f(strategy_of(state));
  const auto& svc = f.snap->services[0];
  for (auto _ : state) {
    benchmark::DoNotOptimize(mb::make_balancer(svc.lb.strategy, svc.servers, mb::options_for(svc.lb)));
  }
  state.SetLabel(strategy_of(state));
}
BENCHMARK(BM_BalancerRebuild)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

// Between changes: a pick among a model's 100 servers of the 1 000, from the kept candidate set.
void BM_PickKeptCandidates(benchmark::State& state) {
  Fleet f(strategy_of(state));
  std::uint64_t key = 0;
  for (auto _ : state) benchmark::DoNotOptimize(f.pick("m-3", ++key));
  state.SetLabel(strategy_of(state));
}
BENCHMARK(BM_PickKeptCandidates)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
