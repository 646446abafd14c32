// The limits store (auth.store, docs/auth.md "Shared limits"): a Redis that every gateway of a
// fleet shares, holding what each has leased of each key's windows (lease.h).
//
// All Redis traffic runs on a thread of its own with hiredis's blocking API and timeouts, never on
// a worker's event loop. The thread wakes when a worker asks for a lease (StoreLink::wake) and
// every kTick otherwise, and sends one pipelined batch per round:
//   - a lease for every key window that asked for one or holds less than half its last chunk;
//   - a claim for every window this gateway used beyond its lease: the usage corrections of
//     answers (usage above the estimate) and what it admitted on its own limits while the store
//     was unreachable (failOpen). After every (re)connection every window is claimed again, so a
//     Redis that restarted empty learns what the gateways had already used.
// At stop, a last batch gives back what this gateway leased and did not use, so a restart or a
// binary upgrade costs the others nothing. All three are one Lua script, atomic in Redis. A window
// is a hash, field = gateway id, value = what that gateway holds; the script sums the fields, hands
// out min(asked, limit - sum) and sets the key to expire after the window ends. A sorted set of
// gateway ids, scored by the time each last spoke, counts the gateways seen in the last 30 s (the
// divisor of a chunk).
//
// With nothing to lease or claim, the thread still writes its heartbeat to the gateways' set once
// a second, which keeps the count of gateways true and finds a lost connection.
//
// Unreachable (connect, AUTH, SELECT or a command fails or times out): connected() turns false
// at once, the state change is logged once, and the thread reconnects with exponential backoff
// (100 ms to 5 s).
#pragma once

#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "config/config.h"
#include "tenancy/limiter.h"

struct redisContext;

namespace modelgate::tenancy {

class LimitsStore final : public StoreLink {
 public:
  static constexpr std::chrono::milliseconds kTick{100};
  static constexpr std::chrono::milliseconds kTimeout{500};     // connect and each round trip
  static constexpr std::chrono::milliseconds kHeartbeat{1000};  // at least one command this often

  // Starts the thread and waits (at most kTimeout) for its first connection attempt, so that
  // the first requests find the store connected when it is there.
  explicit LimitsStore(config::LimitsStore spec);
  ~LimitsStore() override;
  LimitsStore(const LimitsStore&) = delete;
  LimitsStore& operator=(const LimitsStore&) = delete;

  const config::LimitsStore& spec() const { return spec_; }
  struct Tracked {
    std::shared_ptr<KeyState> state;  // held, so that a last batch at stop still finds it
    config::KeyLimits limits;
  };
  // The keys of the latest snapshot, by name, in place of the previous ones; thread-safe.
  void track(std::map<std::string, Tracked> keys);
  void wake() override;

  struct Status {
    bool connected = false;
    std::string last_error;          // "" when none yet
    std::int64_t since_unix_ms = 0;  // when `connected` last changed
    std::uint64_t round_trips = 0, failures = 0;
  };
  Status status() const;

 private:
  struct Op;
  void run();
  bool connect();
  void disconnect(const std::string& why);
  enum class Round : std::uint8_t { normal, claim_all, release };
  // One batch; claim_all after a (re)connection, release at stop. False: the connection failed.
  bool round(Round kind);
  void set_connected(bool up, const std::string& error);

  const config::LimitsStore spec_;
  const std::string gateway_id_;
  redisContext* context_ = nullptr;  // the thread's
  std::uint64_t gateways_ = 1;       // seen at the last answer
  std::int64_t last_spoke_ms_ = 0;   // unix ms of the last command answered

  mutable std::mutex mutex_;  // guards what follows
  std::condition_variable woken_;
  bool poked_ = false, stopping_ = false, first_attempt_done_ = false;
  std::map<std::string, Tracked> keys_;
  Status status_;
  std::thread thread_;
};

}  // namespace modelgate::tenancy
