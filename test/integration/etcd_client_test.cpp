// The etcd client (src/etcd) against a real etcd (EtcdProcess, Debian etcd-server) on loopback:
// every call, lease lapse and renewal, the watch (order, replay from a revision, compaction, a
// stream that breaks), an etcd that is down or silent, and a second endpoint used when the first
// is down. What etcd holds is read back with etcdctl, not with the client under test.
//
// The client runs on its own io_context thread, as the control plane runs it; each call is
// spawned there and its result awaited here.
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include "etcd/client.h"
#include "net/asio.h"
#include "support/etcd_process.h"
#include "support/process.h"
#include "support/wait.h"

namespace mt = modelgate::test;
namespace etcd = modelgate::etcd;
namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;

// A client on its own thread; call() runs one of its coroutines there and returns its result
// (or throws its exception) here.
struct ClientThread {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  etcd::Client client;
  std::thread thread{[this] { io.run(); }};

  ClientThread(std::vector<etcd::Endpoint> endpoints, std::chrono::milliseconds timeout = 2s)
      : client(io.get_executor(), std::move(endpoints), timeout) {}
  ~ClientThread() {
    work.reset();
    io.stop();
    thread.join();
  }
  template <class T>
  T call(asio::awaitable<T> op) {
    return asio::co_spawn(io, std::move(op), asio::use_future).get();
  }
  template <class T>
  std::future<T> spawn(asio::awaitable<T> op) {
    return asio::co_spawn(io, std::move(op), asio::use_future);
  }
};

etcd::Endpoint endpoint_of(const mt::EtcdProcess& server) { return {"127.0.0.1", server.port()}; }

// What a watch delivered, for the test thread to read.
struct Seen {
  std::mutex mutex;
  std::vector<etcd::WatchEvent> events;
  std::vector<std::int64_t> revisions;  // one per batch
  etcd::Client::WatchCallback callback() {
    return [this](std::span<const etcd::WatchEvent> batch, std::int64_t revision) {
      std::lock_guard lock(mutex);
      events.insert(events.end(), batch.begin(), batch.end());
      revisions.push_back(revision);
    };
  }
  std::size_t count() {
    std::lock_guard lock(mutex);
    return events.size();
  }
};

// A TCP port that accepts connections (the kernel completes them into the backlog) and never
// answers: an etcd that hangs.
struct SilentPort {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
  std::uint16_t port() const { return acceptor.local_endpoint().port(); }
};

TEST(EtcdClient, PutRangeAndRemoveAsEtcdctlSeesThem) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  t.call(t.client.put("app/b", "two"));
  t.call(t.client.put("app/a", "one"));
  t.call(t.client.put("apq", "outside the prefix"));
  t.call(t.client.put("bin/\x01\xff", std::string("\0bytes", 6)));

  ASSERT_TRUE(server.get("app/a"));
  EXPECT_EQ(server.get("app/a")->value, "one");

  auto range = t.call(t.client.range_prefix("app/"));
  ASSERT_EQ(range.kvs.size(), 2u);
  EXPECT_EQ(range.kvs[0].key, "app/a");  // in key order
  EXPECT_EQ(range.kvs[0].value, "one");
  EXPECT_EQ(range.kvs[1].key, "app/b");
  EXPECT_EQ(range.kvs[0].mod_revision, server.get("app/a")->mod_revision);
  EXPECT_EQ(range.revision, server.revision());

  auto bytes = t.call(t.client.range_prefix("bin/"));
  ASSERT_EQ(bytes.kvs.size(), 1u);
  EXPECT_EQ(bytes.kvs[0].key, "bin/\x01\xff");
  EXPECT_EQ(bytes.kvs[0].value, std::string("\0bytes", 6));

  EXPECT_EQ(t.call(t.client.range_prefix("")).kvs.size(), 4u);
  EXPECT_TRUE(t.call(t.client.range_prefix("nothing/")).kvs.empty());

  t.call(t.client.remove("app/a"));
  t.call(t.client.remove("app/never-was"));  // no error
  EXPECT_FALSE(server.get("app/a"));
  range = t.call(t.client.range_prefix("app/"));
  ASSERT_EQ(range.kvs.size(), 1u);
  EXPECT_EQ(range.kvs[0].key, "app/b");
  EXPECT_EQ(t.client.current_endpoint(), server.endpoint());
}

TEST(EtcdClient, KeyUnderALeaseGoesWhenTheLeaseLapses) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  const auto lease = t.call(t.client.grant_lease(1s));
  ASSERT_NE(lease, 0);
  t.call(t.client.put("leased", "x", lease));
  auto kept = server.get("leased");
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->lease, lease);
  EXPECT_EQ(t.call(t.client.range_prefix("leased")).kvs.at(0).lease, lease);

  const auto start = Clock::now();
  ASSERT_TRUE(mt::wait_until([&] { return !server.get("leased"); }, 10s));
  EXPECT_GE(Clock::now() - start, 300ms) << "gone long before its TTL";
  EXPECT_EQ(t.call(t.client.keep_alive(lease)), 0) << "a lapsed lease renews as gone";
}

TEST(EtcdClient, KeepAliveHoldsTheLeasePastItsTtl) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  const auto lease = t.call(t.client.grant_lease(2s));
  t.call(t.client.put("held", "x", lease));
  const auto until = Clock::now() + 4s;  // twice the TTL
  while (Clock::now() < until) {
    EXPECT_GT(t.call(t.client.keep_alive(lease)), 0);
    std::this_thread::sleep_for(400ms);
  }
  EXPECT_TRUE(server.get("held")) << "renewed every 400 ms, yet lapsed";

  t.call(t.client.revoke(lease));
  EXPECT_FALSE(server.get("held")) << "revoke deletes the lease's keys at once";
  EXPECT_EQ(t.call(t.client.keep_alive(lease)), 0);
  t.call(t.client.revoke(lease));  // already gone: no error
}

TEST(EtcdClient, WatchSeesPutsAndDeletesInOrder) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  server.put("cfg/old", "0");
  const auto from = t.call(t.client.range_prefix("cfg/")).revision + 1;
  Seen seen;
  auto watching = t.spawn(t.client.watch_prefix("cfg/", from, seen.callback()));
  server.put("cfg/a", "1");
  server.put("other", "not watched");
  server.put("cfg/b", "2");
  server.del("cfg/a");
  server.put("cfg/b", "3");
  ASSERT_TRUE(mt::wait_until([&] { return seen.count() >= 4; }, 10s)) << seen.count() << " events";

  std::lock_guard lock(seen.mutex);
  ASSERT_EQ(seen.events.size(), 4u);
  using Type = etcd::WatchEvent::Type;
  const std::vector<std::tuple<Type, std::string, std::string>> expected = {
      {Type::put, "cfg/a", "1"}, {Type::put, "cfg/b", "2"}, {Type::remove, "cfg/a", ""}, {Type::put, "cfg/b", "3"}};
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(seen.events[i].type, std::get<0>(expected[i])) << i;
    EXPECT_EQ(seen.events[i].kv.key, std::get<1>(expected[i])) << i;
    EXPECT_EQ(seen.events[i].kv.value, std::get<2>(expected[i])) << i;
    if (i > 0) {
      EXPECT_GT(seen.events[i].kv.mod_revision, seen.events[i - 1].kv.mod_revision) << i;
    }
  }
  EXPECT_EQ(seen.revisions.back(), server.revision());
  EXPECT_EQ(watching.wait_for(0s), std::future_status::timeout) << "the watch ended by itself";
  server.kill();  // ends the watch, so the client thread can stop
  EXPECT_THROW(watching.get(), etcd::Error);
}

TEST(EtcdClient, WatchFromAPastRevisionReplaysWhatFollowed) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  server.put("svc/1", "a");
  const auto first = server.revision();
  server.put("svc/2", "b");
  server.del("svc/1");
  Seen seen;
  auto watching = t.spawn(t.client.watch_prefix("svc/", first, seen.callback()));
  ASSERT_TRUE(mt::wait_until([&] { return seen.count() >= 3; }, 10s)) << seen.count() << " events";
  {
    std::lock_guard lock(seen.mutex);
    ASSERT_EQ(seen.events.size(), 3u);
    EXPECT_EQ(seen.events[0].kv.key, "svc/1");
    EXPECT_EQ(seen.events[0].kv.mod_revision, first);
    EXPECT_EQ(seen.events[1].kv.key, "svc/2");
    EXPECT_EQ(seen.events[2].type, etcd::WatchEvent::Type::remove);
  }
  server.put("svc/3", "c");  // and goes on with what comes next
  ASSERT_TRUE(mt::wait_until([&] { return seen.count() >= 4; }, 10s));
  server.kill();
  EXPECT_THROW(watching.get(), etcd::Error);
}

TEST(EtcdClient, WatchFromACompactedRevisionFailsSayingSo) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  server.put("k/1", "a");
  const auto first = server.revision();
  server.put("k/1", "b");
  server.put("k/1", "c");
  const auto now = server.revision();
  server.compact(now);
  try {
    t.call(t.client.watch_prefix("k/", first, [](auto, auto) {}));
    FAIL() << "a watch from a compacted revision went on";
  } catch (const etcd::Error& e) {
    EXPECT_TRUE(e.compacted()) << e.what();
    EXPECT_EQ(e.compact_revision(), now);
    EXPECT_NE(std::string(e.what()).find("compacted"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(server.endpoint()), std::string::npos) << e.what();
  }
}

TEST(EtcdClient, WatchFailsWhenEtcdGoesAway) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  Seen seen;
  auto watching = t.spawn(t.client.watch_prefix("w/", server.revision() + 1, seen.callback()));
  server.put("w/1", "x");
  ASSERT_TRUE(mt::wait_until([&] { return seen.count() >= 1; }, 10s));
  server.stop();
  ASSERT_EQ(watching.wait_for(10s), std::future_status::ready) << "the watch did not notice etcd leave";
  try {
    watching.get();
    // A clean end of the stream is allowed too: the caller watches again either way.
  } catch (const etcd::Error& e) {
    EXPECT_EQ(e.kind(), etcd::Error::Kind::unavailable) << e.what();
  }
}

TEST(EtcdClient, WatchEndsWhenItsAwaiterIsCancelled) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  // The way a caller stops a watch: race it against something else; the loser is cancelled.
  auto stop_after = [&](std::chrono::milliseconds delay) -> asio::awaitable<bool> {
    using namespace asio::experimental::awaitable_operators;
    asio::steady_timer timer(co_await asio::this_coro::executor, delay);
    auto watch = t.client.watch_prefix("c/", 0, [](auto, auto) {});
    auto wait = timer.async_wait(asio::use_awaitable);
    const auto first = co_await (std::move(watch) || std::move(wait));
    co_return first.index() == 1;
  };
  const auto start = Clock::now();
  auto stopped = t.spawn(stop_after(300ms));
  ASSERT_EQ(stopped.wait_for(5s), std::future_status::ready) << "the watch went on after it was cancelled";
  EXPECT_TRUE(stopped.get());
  EXPECT_LT(Clock::now() - start, 2s);
  t.call(t.client.put("c/after", "x"));  // the client is fine afterwards
}

TEST(EtcdClient, EtcdDownIsAnErrorThatNamesTheEndpoint) {
  const std::uint16_t closed = mt::free_port();
  ClientThread t({{"127.0.0.1", closed}}, 1s);
  try {
    t.call(t.client.put("k", "v"));
    FAIL() << "put succeeded with no etcd";
  } catch (const etcd::Error& e) {
    EXPECT_EQ(e.kind(), etcd::Error::Kind::unavailable);
    const std::string what = e.what();
    EXPECT_NE(what.find("127.0.0.1:" + std::to_string(closed)), std::string::npos) << what;
    EXPECT_NE(what.find("refused"), std::string::npos) << what;
  }
}

TEST(EtcdClient, EtcdThatDoesNotAnswerIsAnErrorWithinTheTimeout) {
  SilentPort silent;
  ClientThread t({{"127.0.0.1", silent.port()}}, 500ms);
  for (auto op : {0, 1}) {
    const auto start = Clock::now();
    try {
      if (op == 0) t.call(t.client.range_prefix("x"));
      if (op == 1) t.call(t.client.watch_prefix("x", 0, [](auto, auto) {}));
      FAIL() << "an answer from a port that never answers";
    } catch (const etcd::Error& e) {
      const auto took = Clock::now() - start;
      EXPECT_GE(took, 450ms) << e.what();
      EXPECT_LT(took, 2s) << e.what();
      EXPECT_NE(std::string(e.what()).find("timed out after"), std::string::npos) << e.what();
    }
  }
}

TEST(EtcdClient, SecondEndpointServesWhenTheFirstIsDown) {
  mt::EtcdProcess server;
  SilentPort silent;
  const std::uint16_t closed = mt::free_port();
  ClientThread t({{"127.0.0.1", closed}, {"127.0.0.1", silent.port()}, endpoint_of(server)}, 500ms);
  t.call(t.client.put("k", "v"));
  EXPECT_EQ(server.get("k")->value, "v");
  EXPECT_EQ(t.client.current_endpoint(), server.endpoint());
  // The next call starts where the last one was answered: no timeout spent on the silent one.
  const auto start = Clock::now();
  EXPECT_EQ(t.call(t.client.range_prefix("k")).kvs.size(), 1u);
  EXPECT_LT(Clock::now() - start, 400ms);
  Seen seen;
  auto watching = t.spawn(t.client.watch_prefix("k", server.revision() + 1, seen.callback()));
  server.put("k", "w");
  ASSERT_TRUE(mt::wait_until([&] { return seen.count() >= 1; }, 10s));
  server.kill();
  EXPECT_THROW(watching.get(), etcd::Error);
}

TEST(EtcdClient, RefusedRequestIsFinalAndSaysWhy) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)});
  try {
    t.call(t.client.put("k", "v", 12345));  // no such lease
    FAIL() << "a put under an unknown lease succeeded";
  } catch (const etcd::Error& e) {
    EXPECT_EQ(e.kind(), etcd::Error::Kind::rejected);
    EXPECT_NE(std::string(e.what()).find("lease not found"), std::string::npos) << e.what();
  }
}

TEST(EtcdClient, CallsWorkAgainAfterEtcdRestarts) {
  mt::EtcdProcess server;
  ClientThread t({endpoint_of(server)}, 1s);
  t.call(t.client.put("k", "1"));
  server.stop();
  EXPECT_THROW(t.call(t.client.put("k", "2")), etcd::Error);
  server.start();
  t.call(t.client.put("k", "3"));
  EXPECT_EQ(server.get("k")->value, "3");
}

}  // namespace
