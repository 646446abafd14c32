// The maxConnections queue serves priority classes in order, and tenants fairly by tokens: one
// key floods a saturated server with long prompts, another sends a trickle of short ones; an
// interactive key's request passes the batch key's queued ones. Without keys a tenant is a client
// address: two tenants then connect from 127.0.0.2 and 127.0.0.3. Real gateway, real sim,
// loopback, port 0; every run bounded in requests and time.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/sim_process.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kService = 100ms;  // the sim's answer time: one request at a time through one slot

// A chat request of about `tokens` estimated tokens (4 bytes each).
std::string chat(std::size_t tokens) {
  return R"({"model":"Qwen2.5-0.5B-Instruct","max_tokens":1,"messages":[{"role":"user","content":")" +
         std::string(tokens * 4, 'x') + R"("}]})";
}

// With `auth`, four keys: "flood" and "light" of class default, "batch" and "chat" (interactive).
std::string one_slot_config(std::uint16_t port, bool keys = false) {
  const std::string auth =
      "auth:\n  keys:\n    - {name: flood, key: sk-flood}\n    - {name: light, key: sk-light}\n"
      "    - {name: batch, key: sk-batch, priority: batch}\n"
      "    - {name: chat, key: sk-chat, priority: interactive}\n";
  return (keys ? auth : "") + "admin: {enabled: false}\n"
         "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n"
         "http:\n  routers:\n    all:\n      rule: \"PathPrefix(`/`)\"\n      service: pool\n"
         "  services:\n    pool:\n      loadBalancer:\n        timeouts: {connect: 20s}\n"
         "        servers:\n          - {url: http://127.0.0.1:" + std::to_string(port) + ", maxConnections: 1}\n";
}

// `clients` keep-alive clients from `source`, with that API key (or none), each sending `body`
// again as soon as it is answered, until `stop`; counts the answers 200 in `served`.
struct Flood {
  std::atomic<bool> stop{false};
  std::atomic<int> served{0}, failed{0};
  std::vector<std::thread> threads;
  Flood(std::uint16_t port, const std::string& source, int clients, const std::string& body, const std::string& key = "") {
    for (int i = 0; i < clients; ++i) {
      threads.emplace_back([this, port, source, body, key] {
        mt::HttpClient client("127.0.0.1", port, 30s);
        client.set_source(source);
        const mt::Headers auth = key.empty() ? mt::Headers{} : mt::Headers{{"Authorization", "Bearer " + key}};
        while (!stop.load()) (client.post_json("/v1/chat/completions", body, auth).status == 200 ? served : failed)++;
      });
    }
  }
  void end() {
    stop = true;
    for (auto& t : threads) t.join();
    threads.clear();
  }
  ~Flood() { end(); }
};

}  // namespace

// Eight clients of key A keep a long prompt each waiting behind the only slot; key B sends one
// short request at a time, from the same address. First in, first out, each of B's would wait for the seven of A's
// ahead of it (some 800 ms); fairly, B's start tag is the line's virtual time, so it is next. With
// two workers B's worker gets every other release while B waits there, wherever A's requests are.
TEST(FairQueue, ATrickleWaitsBoundedBehindAFloodOfLongPrompts) {
  mt::SimProcess sim("slow", {"--ttft-ms", std::to_string(kService.count())});
  for (unsigned workers : {1u, 2u}) {
    mt::GatewayProcess gw(one_slot_config(sim.port(), true), workers);
    Flood flood(gw.port(), "127.0.0.2", 8, chat(4000), "sk-flood");
    std::this_thread::sleep_for(500ms);  // the line is full of A's by now
    mt::HttpClient light("127.0.0.1", gw.port(), 30s);
    light.set_source("127.0.0.2");
    const auto light_body = chat(100);
    const mt::Headers light_key{{"Authorization", "Bearer sk-light"}};
    std::vector<double> waits;
    for (int i = 0; i < 8; ++i) {
      const auto t0 = Clock::now();
      EXPECT_EQ(light.post_json("/v1/chat/completions", light_body, light_key).status, 200);
      waits.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
      std::this_thread::sleep_for(50ms);
    }
    flood.end();
    const double worst = *std::max_element(waits.begin(), waits.end());
    std::cout << workers << " worker(s): light tenant's answers behind 8 flooding clients: worst " << worst
              << " ms (service " << kService.count() << " ms); flood served " << flood.served << "\n";
    EXPECT_GT(flood.served, 8) << "the flood was served too";
    EXPECT_EQ(flood.failed, 0);
    // The request in service, then B's own: two service times; with two workers, up to two more
    // of A's (the releases of A's worker alternate between its own waiters and B's worker). And
    // some room for a loaded machine.
    EXPECT_LT(worst, (workers == 1 ? 4.5 : 6.0) * kService.count()) << "the light tenant waited behind the flood";
  }
}

// Without keys: two client addresses keep four requests waiting each; A's prompts are four times
// as long as B's. Sharing
// tokens equally, B is served about four requests for each of A's (first in, first out: one for
// one).
TEST(FairQueue, BackloggedTenantsShareTheSlotByTokens) {
  mt::SimProcess sim("s", {"--ttft-ms", "40"});
  mt::GatewayProcess gw(one_slot_config(sim.port()), 1);
  Flood heavy(gw.port(), "127.0.0.2", 4, chat(4000));
  Flood light(gw.port(), "127.0.0.3", 4, chat(1000));
  std::this_thread::sleep_for(3s);
  heavy.stop = light.stop = true;
  heavy.end();
  light.end();
  const int a = heavy.served, b = light.served;
  std::cout << "served in 3 s through one slot: heavy tenant " << a << ", light tenant " << b
            << " (fair by tokens: 1 to 4)\n";
  EXPECT_EQ(heavy.failed + light.failed, 0);
  EXPECT_GE(a, 3) << "the heavy tenant is slowed, not starved";
  EXPECT_GE(b, 3 * a) << "the light tenant did not get its share of tokens";
  EXPECT_LE(b, 6 * a);
}

// Six requests of the batch key queue behind the only slot; then one of the interactive key comes.
// It is served next, not seventh: two service times at most, and three batch requests or more
// still waiting when it is answered.
TEST(FairQueue, AnInteractiveKeyPassesQueuedBatchRequests) {
  mt::SimProcess sim("slow", {"--ttft-ms", std::to_string(kService.count())});
  mt::GatewayProcess gw(one_slot_config(sim.port(), true), 1);
  const auto body = chat(100);
  std::vector<Clock::time_point> batch_done(6);
  std::vector<int> batch_status(6);
  std::vector<std::thread> batch;
  for (int i = 0; i < 6; ++i) {
    batch.emplace_back([&, i] {
      mt::HttpClient client("127.0.0.1", gw.port(), 30s);
      batch_status[i] = client.post_json("/v1/chat/completions", body, {{"Authorization", "Bearer sk-batch"}}).status;
      batch_done[i] = Clock::now();
    });
  }
  std::this_thread::sleep_for(150ms);  // one at the server, five waiting
  mt::HttpClient chat_client("127.0.0.1", gw.port(), 30s);
  const auto t0 = Clock::now();
  const int status = chat_client.post_json("/v1/chat/completions", body, {{"Authorization", "Bearer sk-chat"}}).status;
  const auto done = Clock::now();
  for (auto& t : batch) t.join();
  EXPECT_EQ(status, 200);
  for (int s : batch_status) EXPECT_EQ(s, 200);
  const double waited = std::chrono::duration<double, std::milli>(done - t0).count();
  const auto after = std::count_if(batch_done.begin(), batch_done.end(), [&](auto t) { return t > done; });
  std::cout << "interactive request behind 6 batch ones: answered in " << waited << " ms, " << after
            << " batch requests answered after it\n";
  EXPECT_GE(after, 3) << "the interactive request waited behind the batch ones";
  EXPECT_LT(waited, 3.5 * kService.count());
}
