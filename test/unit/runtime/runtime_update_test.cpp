// The runtime model is updated, not rebuilt: a worker's balancers (round-robin cursors, hash rings)
// and the servers' learned state go through discovery changes and unrelated reloads untouched, and
// a rule is parsed once, by the loader. Drives the same path as a running gateway: the loader,
// build_snapshot (as the control plane calls it for a reload or a discovery change) and the
// worker's WorkerPools::adopt.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "balancing/pool.h"
#include "config/loader.h"
#include "runtime/catalogue.h"
#include "runtime/snapshot.h"
#include "runtime/worker_pools.h"

namespace mb = modelgate::balancing;
namespace mc = modelgate::config;
namespace mr = modelgate::runtime;

namespace {

// Two services sharing nothing: `chat` (strategy as given) on :9001-:9003, `spare` on :9011-:9012.
std::string yaml(const std::string& chat_strategy, const std::string& spare_strategy = "round_robin",
                 int chat_abs_threshold = 8) {
  return "entryPoints: {web: {address: \"127.0.0.1:0\"}}\n"
         "admin: {enabled: false}\n"
         "http:\n"
         "  routers:\n"
         "    all: {rule: \"PathPrefix(`/v1`) && !Model(`m-spare`)\", service: chat}\n"
         "    spare: {rule: \"Model(`m-spare`, `m-other`)\", service: spare}\n"
         "  services:\n"
         "    chat:\n"
         "      loadBalancer:\n"
         "        strategy: " + chat_strategy + "\n"
         "        discoverModels: {interval: 10s}\n"
         "        cacheAware: {balanceAbsThreshold: " + std::to_string(chat_abs_threshold) + "}\n"
         "        servers: [{url: \"http://127.0.0.1:9001\"}, {url: \"http://127.0.0.1:9002\"},\n"
         "                  {url: \"http://127.0.0.1:9003\"}]\n"
         "    spare:\n"
         "      loadBalancer:\n"
         "        strategy: " + spare_strategy + "\n"
         "        servers: [{url: \"http://127.0.0.1:9011\"}, {url: \"http://127.0.0.1:9012\"}]\n";
}

mc::Config load(const std::string& text) {
  auto loaded = mc::load_text(text, "test.yaml");
  for (const auto& d : loaded.diagnostics) ADD_FAILURE() << d.str();
  return std::move(*loaded.config);
}

std::shared_ptr<const mr::Snapshot> build(mc::Config cfg, mr::ServerRegistry& registry) {
  auto built = mr::build_snapshot(std::move(cfg), registry);
  if (auto* errors = std::get_if<std::vector<std::string>>(&built)) {
    for (const auto& e : *errors) ADD_FAILURE() << e;
    return nullptr;
  }
  return std::get<std::shared_ptr<const mr::Snapshot>>(built);
}

const mr::ServiceRuntime& service(const mr::Snapshot& snap, const std::string& name) {
  for (const auto& s : snap.services)
    if (s.name == name) return s;
  throw std::runtime_error("no service " + name);
}

std::size_t index_of(const mr::Snapshot& snap, const std::string& name) {
  return static_cast<std::size_t>(&service(snap, name) - snap.services.data());
}

void serves(mb::ServerState& s, std::vector<std::string> models) {
  s.update_info([&](mb::ServerState::Info& info) {
    info.models = std::move(models);
    info.models_known = true;
  });
}

// The port's last digit of the server chosen for `model` on `chat`'s pool.
int pick(const mr::Snapshot& snap, const mr::WorkerPools::Pools& pools, const std::string& model,
         std::uint64_t key_hash = 0) {
  const auto* allowed = mr::servers_for(snap, model);
  mb::PickRequest request{{}, key_hash, {}, allowed != nullptr};
  if (allowed) request.allowed = *allowed;
  auto* s = pools[index_of(snap, "chat")]->pick(request).server;
  return s ? s->spec.port % 10 : -1;
}

}  // namespace

TEST(RuntimeUpdate, RoundRobinOrderAndHashRingSurviveDiscoveryChangesOfAnotherModel) {
  for (const std::string strategy : {"round_robin", "consistent_hash"}) {
    SCOPED_TRACE(strategy);
    mr::ServerRegistry registry;
    auto snap = build(load(yaml(strategy)), registry);
    const auto& chat = service(*snap, "chat");
    serves(*chat.servers[0], {"m-a"});
    serves(*chat.servers[1], {"m-a"});
    serves(*chat.servers[2], {"m-a", "m-b"});
    snap = build(snap->config, registry);  // the first discovery round
    mr::WorkerPools worker;
    auto pools = worker.adopt(*snap);
    const auto* pool = pools[index_of(*snap, "chat")].get();

    std::map<std::uint64_t, int> home;  // consistent_hash: where each of 200 keys lands
    if (strategy == "consistent_hash") {
      for (std::uint64_t key = 1; key <= 200; ++key) home[key] = pick(*snap, pools, "m-a", key * 7919);
    }
    std::vector<int> order;
    for (int i = 0; i < 3; ++i) order.push_back(pick(*snap, pools, "m-a"));

    for (int change = 0; change < 100; ++change) {
      // Server 3 loads and unloads m-b: the control plane rebuilds the catalogue, the worker adopts it.
      serves(*service(*snap, "chat").servers[2], change % 2 ? std::vector<std::string>{"m-a", "m-b"}
                                                             : std::vector<std::string>{"m-a"});
      snap = build(snap->config, registry);
      pools = worker.adopt(*snap);
      ASSERT_EQ(pools[index_of(*snap, "chat")].get(), pool) << "the balancer was rebuilt at change " << change;
      ASSERT_FALSE(worker.servers_changed());
      if (strategy == "round_robin") {
        const int got = pick(*snap, pools, "m-a");
        ASSERT_EQ(got, order[change % 3]) << "change " << change;
      }
    }
    if (strategy == "consistent_hash") {
      for (const auto& [key, server] : home) EXPECT_EQ(pick(*snap, pools, "m-a", key * 7919), server) << key;
    } else {
      EXPECT_EQ(order[0], 1);
      EXPECT_EQ(order[1], 2);
      EXPECT_EQ(order[2], 3);
    }
  }
}

TEST(RuntimeUpdate, LearnedStateKeptAcrossReloadOfAnotherServiceAndResetWhenItsServiceChanges) {
  mr::ServerRegistry registry;
  auto snap = build(load(yaml("cache_aware")), registry);
  mr::WorkerPools worker;
  auto pools = worker.adopt(*snap);
  const auto chat_pool = pools[index_of(*snap, "chat")];
  auto learned = service(*snap, "chat").servers[0];
  const std::vector<std::uint64_t> chain = {11, 22, 33};
  learned->llm.prefill_rate.store(4321.0);
  learned->llm.index.load()->insert(chain);
  ASSERT_EQ(learned->llm.index.load()->match(chain), 3u);

  // A reload that changes only the other service: same server state, same balancer, nothing forgotten.
  snap = build(load(yaml("cache_aware", "random")), registry);
  pools = worker.adopt(*snap);
  EXPECT_EQ(service(*snap, "chat").servers[0], learned);
  EXPECT_EQ(pools[index_of(*snap, "chat")], chat_pool);
  EXPECT_EQ(learned->llm.prefill_rate.load(), 4321.0);
  EXPECT_EQ(learned->llm.index.load()->match(chain), 3u);

  // A reload that changes the service itself: what was learned under the old definition is dropped.
  snap = build(load(yaml("cache_aware", "random", 4)), registry);
  pools = worker.adopt(*snap);
  EXPECT_NE(pools[index_of(*snap, "chat")], chat_pool);
  const auto& now = service(*snap, "chat").servers[0];
  EXPECT_EQ(now->llm.prefill_rate.load(), 0.0);
  EXPECT_EQ(now->llm.index.load()->match(chain), 0u);
}

TEST(RuntimeUpdate, ServerAddedByReloadKeepsTheOthersRoundRobinTurn) {
  mr::ServerRegistry registry;
  auto snap = build(load(yaml("round_robin")), registry);
  mr::WorkerPools worker;
  auto pools = worker.adopt(*snap);
  EXPECT_EQ(pick(*snap, pools, "m-a"), 1);
  EXPECT_EQ(pick(*snap, pools, "m-a"), 2);
  auto cfg = snap->config;
  mc::Server extra = cfg.services.at("chat").loadBalancer.servers.back();
  extra.url = "http://127.0.0.1:9004";
  extra.port = 9004;
  cfg.services.at("chat").loadBalancer.servers.push_back(extra);
  const auto* before = pools[index_of(*snap, "chat")].get();
  snap = build(std::move(cfg), registry);
  pools = worker.adopt(*snap);
  EXPECT_EQ(pools[index_of(*snap, "chat")].get(), before);  // told of the new server, not rebuilt
  EXPECT_TRUE(worker.servers_changed());
  EXPECT_EQ(pick(*snap, pools, "m-a"), 3);
  EXPECT_EQ(pick(*snap, pools, "m-a"), 4);
  EXPECT_EQ(pick(*snap, pools, "m-a"), 1);
}

TEST(RuntimeUpdate, RulesAreParsedOnceByTheLoader) {
  auto cfg = load(yaml("round_robin"));
  const auto& router = cfg.routers.at("spare");
  ASSERT_NE(router.compiled, nullptr);
  EXPECT_EQ(router.models, (std::vector<std::string>{"m-spare", "m-other"}));
  EXPECT_TRUE(cfg.routers.at("all").models.empty());  // `!Model` names a model it does not serve
  const auto* parsed = router.compiled.get();
  mr::ServerRegistry registry;
  auto snap = build(std::move(cfg), registry);
  const auto* ep = snap->entry_point("web");
  ASSERT_NE(ep, nullptr);
  bool found = false;
  for (const auto& route : ep->routes) {
    if (route.name != "spare") continue;
    found = true;
    EXPECT_EQ(route.rule.get(), parsed);  // the loader's object, not a second parse
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(ep->rule_models, (std::vector<std::string>{"m-spare", "m-other"}));
}
