// The maxConnections queue: a request that finds every server at its maxConnections waits for a
// slot, and is woken when one is released, not by polling. Two things show it from outside: the
// queued requests cost the gateway no CPU while nothing is released, and a queued request starts as
// soon as the one before it ends. Real gateway, real sim, loopback, port 0; every wait bounded.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <latch>
#include <regex>
#include <sstream>
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

const std::string kChat =
    R"({"model":"Qwen2.5-0.5B-Instruct","max_tokens":1,"messages":[{"role":"user","content":"hi"}]})";

// One service over one server with maxConnections 1.
std::string one_slot_config(std::uint16_t port, const std::string& connect_timeout) {
  return "admin: {enabled: false}\n"
         "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n"
         "http:\n  routers:\n    all:\n      rule: \"PathPrefix(`/`)\"\n      service: pool\n"
         "  services:\n    pool:\n      loadBalancer:\n"
         "        timeouts: {connect: " + connect_timeout + "}\n"
         "        servers:\n          - {url: http://127.0.0.1:" + std::to_string(port) + ", maxConnections: 1}\n";
}

// User plus system CPU time of a process so far (from /proc/PID/stat, in clock ticks).
std::chrono::milliseconds cpu_time(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string skip;
  for (int i = 3; i < 14; ++i) fields >> skip;  // fields 3..13
  long long utime = 0, stime = 0;
  fields >> utime >> stime;
  return std::chrono::milliseconds((utime + stime) * 1000 / sysconf(_SC_CLK_TCK));
}

// The sim's peak of requests at once.
std::int64_t sim_max_inflight(std::uint16_t sim_port) {
  mt::HttpClient c("127.0.0.1", sim_port, 2s);
  auto r = c.get("/admin/stats");
  std::smatch m;
  if (r.status != 200 || !std::regex_search(r.body, m, std::regex("\"max_inflight\":(-?\\d+)"))) return -1;
  return std::stoll(m[1]);
}

// Times the process's threads went to sleep and were woken (voluntary context switches, summed
// over /proc/PID/task/*/status): each is a wait of the event loop that something ended.
long long wakeups(pid_t pid) {
  long long total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
    std::ifstream in(task.path() / "status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.starts_with("voluntary_ctxt_switches:")) total += std::stoll(line.substr(24));
    }
  }
  return total;
}

// `n` requests, each on its own connection, started `gap` apart; the time each one ended.
struct Ended {
  std::vector<int> status;
  std::vector<Clock::time_point> at;
};
Ended requests(std::uint16_t port, int n, std::chrono::milliseconds gap) {
  Ended out{std::vector<int>(n), std::vector<Clock::time_point>(n)};
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      mt::HttpClient client("127.0.0.1", port, 20s);
      auto r = client.post_json("/v1/chat/completions", kChat);
      out.status[i] = r.status;
      out.at[i] = Clock::now();
    });
    std::this_thread::sleep_for(gap);
  }
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace

// 200 requests queue behind one that holds the only slot for 1.5 s. While nothing is released
// they must not keep the gateway awake: a 2 ms poll woke its event loop about every 2 ms (some
// 350 times in the 700 ms measured); without it the loop wakes for the deadline wheel's 8 ms tick
// and the queue's 50 ms fallback, shared by all waiters (about 100 times), loaded machine or not.
TEST(MaxConnectionsQueue, QueuedRequestsDoNotKeepTheGatewayAwake) {
  mt::SimProcess sim("slow", {"--ttft-ms", "1500"});
  mt::GatewayProcess gw(one_slot_config(sim.port(), "1200ms"), 1);
  constexpr int kQueued = 200;
  std::latch connected(kQueued);
  std::vector<int> status(kQueued + 1);
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    mt::HttpClient client("127.0.0.1", gw.port(), 10s);
    status[0] = client.post_json("/v1/chat/completions", kChat).status;
  });
  std::this_thread::sleep_for(100ms);  // the first one holds the slot
  const auto started = Clock::now();
  for (int i = 1; i <= kQueued; ++i) {
    threads.emplace_back([&, i] {
      mt::HttpClient client("127.0.0.1", gw.port(), 10s);
      connected.count_down();
      status[i] = client.post_json("/v1/chat/completions", kChat).status;
    });
  }
  connected.wait();
  std::this_thread::sleep_until(started + 300ms);  // all queued by now
  const auto before = cpu_time(gw.process().pid());
  const auto woken_before = wakeups(gw.process().pid());
  std::this_thread::sleep_until(started + 1000ms);  // still queued: connect is 1200 ms
  const auto used = cpu_time(gw.process().pid()) - before;
  const auto woken = wakeups(gw.process().pid()) - woken_before;
  for (auto& t : threads) t.join();
  EXPECT_EQ(status[0], 200);
  int busy = 0;
  for (int i = 1; i <= kQueued; ++i) busy += status[i] == 503;
  EXPECT_EQ(busy, kQueued) << "every queued request waits out timeouts.connect";
  std::cout << "gateway CPU while " << kQueued << " requests waited 700 ms: " << used.count() << " ms, "
            << woken << " wakeups of its threads\n";
  EXPECT_LT(woken, 200) << "queued requests kept waking the gateway while no slot was released";
}

// Ten requests through one slot, 100 ms each: each queued one starts when the one before it ends,
// so the whole takes ten times 100 ms and little more. Both the release on the waiter's own worker
// and on another one are covered (2 workers, connections spread by the kernel).
TEST(MaxConnectionsQueue, QueuedRequestStartsWhenTheSlotIsReleased) {
  mt::SimProcess sim("s", {"--ttft-ms", "100"});
  for (unsigned workers : {1u, 2u}) {
    mt::GatewayProcess gw(one_slot_config(sim.port(), "10s"), workers);
    const auto t0 = Clock::now();
    auto ended = requests(gw.port(), 10, 5ms);
    const double total = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    for (int s : ended.status) EXPECT_EQ(s, 200);
    std::sort(ended.at.begin(), ended.at.end());
    double worst_gap = 0;
    for (std::size_t i = 1; i < ended.at.size(); ++i) {
      worst_gap = std::max(worst_gap, std::chrono::duration<double, std::milli>(ended.at[i] - ended.at[i - 1]).count());
    }
    const double per_handover = (total - 10 * 100.0) / 9;
    std::cout << workers << " worker(s): 10 x 100 ms through one slot took " << total
              << " ms; mean handover " << per_handover << " ms, longest gap between two answers " << worst_gap
              << " ms\n";
    EXPECT_GE(total, 1000) << "two requests were at the server at once";
    EXPECT_LT(per_handover, 10) << "a queued request did not start soon after the release";
  }
  EXPECT_EQ(sim_max_inflight(sim.port()), 1);
}
