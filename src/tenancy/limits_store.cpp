#include "tenancy/limits_store.h"

#include <fmt/format.h>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <vector>

namespace modelgate::tenancy {

namespace {

// KEYS[1]: the window's hash (field: gateway id, value: what it holds); KEYS[2]: the gateways
// seen, scored by when. ARGV: gateway id, "lease", "claim" or "release", amount, limit, expiry in
// ms, now in unix ms. A lease adds min(amount, limit - sum) to the gateway's field; a claim raises
// the field to the amount (what the gateway used; idempotent, so it is safe to send again); a
// release (at stop) lowers it to the amount, giving back what was leased and not used. Answers
// {added, the gateway's field, the sum, gateways seen}.
constexpr std::string_view kScript = R"lua(
local now = tonumber(ARGV[6])
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - 30000)
local used = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do used = used + tonumber(v) end
local mine = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or 0)
local amount = tonumber(ARGV[3])
local added = 0
if ARGV[2] == 'lease' then
  added = math.max(0, math.min(amount, tonumber(ARGV[4]) - used))
  if added > 0 then redis.call('HINCRBY', KEYS[1], ARGV[1], added) end
elseif (ARGV[2] == 'claim' and amount > mine) or (ARGV[2] == 'release' and amount < mine) then
  added = amount - mine
  redis.call('HSET', KEYS[1], ARGV[1], amount)
end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return {math.max(added, 0), mine + added, used + added, redis.call('ZCARD', KEYS[2])}
)lua";

constexpr std::string_view kGatewaysKey = "modelgate:gateways";
constexpr std::string_view kWindowNames[kSharedWindows] = {"requests", "tokens", "day", "month"};
constexpr std::chrono::milliseconds kFirstBackoff{100}, kMaxBackoff{5000};

std::string make_gateway_id() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return fmt::format("{}:{}:{:08x}", host, getpid(), std::random_device{}());
}

timeval to_timeval(std::chrono::milliseconds d) {
  return timeval{static_cast<time_t>(d.count() / 1000), static_cast<suseconds_t>(d.count() % 1000 * 1000)};
}

struct FreeReply {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, FreeReply>;

std::uint64_t left(std::uint64_t limit, std::uint64_t used) { return used >= limit ? 0 : limit - used; }

}  // namespace

struct LimitsStore::Op {
  std::shared_ptr<KeyState> state;
  std::size_t window = 0;
  std::uint64_t id = 0, limit = 0, amount = 0;
  std::string_view mode;  // lease, claim or release
  std::string key;
  std::int64_t expire_ms = 0;
};

LimitsStore::LimitsStore(config::LimitsStore spec)
    : StoreLink(spec.failOpen), spec_(std::move(spec)), gateway_id_(make_gateway_id()) {
  thread_ = std::thread([this] { run(); });
  std::unique_lock lock(mutex_);
  woken_.wait_for(lock, kTimeout + kTimeout, [&] { return first_attempt_done_; });
}

LimitsStore::~LimitsStore() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  woken_.notify_all();
  thread_.join();
  if (context_) redisFree(context_);
}

void LimitsStore::track(std::map<std::string, Tracked> keys) {
  std::lock_guard lock(mutex_);
  keys_ = std::move(keys);
}

void LimitsStore::wake() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  woken_.notify_all();
}

LimitsStore::Status LimitsStore::status() const {
  std::lock_guard lock(mutex_);
  return status_;
}

void LimitsStore::set_connected(bool up, const std::string& error) {
  std::lock_guard lock(mutex_);
  const bool changed = status_.since_unix_ms == 0 || status_.connected != up;
  if (!error.empty()) status_.last_error = error;
  if (!up && !error.empty()) ++status_.failures;
  if (!changed) return;
  status_.connected = up;
  status_.since_unix_ms = Limiter::system_unix_ms();
  connected_.store(up, std::memory_order_release);
  if (up) {
    spdlog::info("auth.store: connected to {}; the keys' limits are shared with every gateway using it",
                 spec_.url);
  } else {
    spdlog::warn("auth.store: {} is unreachable ({}); {} until it is back", spec_.url, error,
                 fail_open_ ? "failOpen: keyed requests are admitted on this gateway's own limits"
                            : "failClosed: keyed requests are refused with 503");
  }
}

bool LimitsStore::connect() {
  const timeval tv = to_timeval(kTimeout);
  context_ = redisConnectWithTimeout(spec_.host.c_str(), spec_.port, tv);
  std::string error;
  if (!context_ || context_->err) {
    error = context_ ? context_->errstr : "cannot allocate a connection";
  } else {
    redisSetTimeout(context_, tv);
    auto command = [&](std::vector<std::string> args) {
      std::vector<const char*> argv;
      std::vector<std::size_t> lengths;
      for (const auto& a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      Reply r(static_cast<redisReply*>(
          redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data())));
      if (!r)
        error = context_->errstr;
      else if (r->type == REDIS_REPLY_ERROR)
        error = fmt::format("{} refused: {}", args[0], r->str);
      return error.empty();
    };
    if (!spec_.password.empty()) command({"AUTH", spec_.password});
    if (error.empty() && spec_.db != 0) command({"SELECT", std::to_string(spec_.db)});
  }
  if (error.empty()) {
    set_connected(true, "");
    return true;
  }
  disconnect(error);
  return false;
}

void LimitsStore::disconnect(const std::string& why) {
  if (context_) redisFree(context_);
  context_ = nullptr;
  set_connected(false, why);
}

void LimitsStore::run() {
  auto backoff = kFirstBackoff;
  Round kind = Round::claim_all;
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) break;
    }
    if (!context_) {
      const bool up = connect();
      {
        std::lock_guard lock(mutex_);
        first_attempt_done_ = true;
      }
      woken_.notify_all();
      if (!up) {
        std::unique_lock lock(mutex_);
        woken_.wait_for(lock, backoff, [&] { return stopping_; });
        backoff = std::min(backoff * 2, kMaxBackoff);
        continue;
      }
      backoff = kFirstBackoff;
      kind = Round::claim_all;  // a Redis that restarted empty learns what was used
    }
    if (round(kind)) kind = Round::normal;
    std::unique_lock lock(mutex_);
    woken_.wait_for(lock, kTick, [&] { return poked_ || stopping_; });
    poked_ = false;
  }
  if (context_) round(Round::release);  // what this gateway leased and did not use, for the others
}

bool LimitsStore::round(Round kind) {
  const bool claim_all = kind == Round::claim_all, release = kind == Round::release;
  const std::int64_t now = Limiter::system_unix_ms();
  const Windows w = windows_at(now);
  const std::uint64_t ids[kSharedWindows] = {w.minute, w.minute, w.day, w.month};
  const std::int64_t ends[kSharedWindows] = {w.minute_end_ms, w.minute_end_ms, w.day_end_ms, w.month_end_ms};
  std::vector<std::pair<std::string, Tracked>> keys;
  {
    std::lock_guard lock(mutex_);
    keys.assign(keys_.begin(), keys_.end());
  }
  std::vector<Op> ops;
  std::vector<std::shared_ptr<KeyState>> asked;
  for (const auto& [name, tracked] : keys) {
    const auto& state = tracked.state;
    const bool was_asked = !release && state->refill.exchange(false, std::memory_order_acq_rel);
    if (was_asked) asked.push_back(state);
    const std::uint64_t limits[kSharedWindows] = {tracked.limits.requestsPerMinute,
                                                  tracked.limits.tokensPerMinute, tracked.limits.tokensPerDay,
                                                  tracked.limits.tokensPerMonth};
    const Window* windows[kSharedWindows] = {&state->requests_minute, &state->tokens_minute,
                                             &state->tokens_day, &state->tokens_month};
    for (std::size_t i = 0; i < kSharedWindows; ++i) {
      if (limits[i] == 0) continue;
      Lease& lease = state->leases[i];
      const std::uint64_t used = windows[i]->used(ids[i]), granted = lease.granted.used(ids[i]);
      // A want posted after `refill` was read stays for the next round, which that request woke.
      const std::uint64_t want = was_asked ? lease.want.exchange(0, std::memory_order_relaxed) : 0;
      const bool claim = !release && (used > granted || (claim_all && granted > 0));
      const std::uint64_t left_plus1 = lease.store_left.used(ids[i]);
      const bool lease_now =
          was_asked && left_plus1 != 1 &&
          (want > 0 || wants_refill(std::max(granted, used), used, lease.last_chunk.load()));
      const bool give_back = release && granted > used;
      if (!claim && !lease_now && !give_back) continue;
      Op op{state,
            i,
            ids[i],
            limits[i],
            give_back ? used : std::max(used, granted),
            give_back ? "release" : "claim",
            fmt::format("modelgate:limits:{}:{}:{}", name, kWindowNames[i], ids[i]),
            ends[i] - now + 60'000};
      if (claim || give_back) ops.push_back(op);
      if (lease_now) {
        op.mode = "lease";
        op.amount = lease_request(limits[i], left_plus1, gateways_, want);
        ops.push_back(std::move(op));
      }
    }
  }
  auto answer = [&] {
    for (const auto& s : asked) s->lease_answers.fetch_add(1, std::memory_order_acq_rel);
  };
  const std::string now_text = std::to_string(now), gateways_key(kGatewaysKey);
  if (ops.empty()) {
    // Nothing to lease or claim: say we are here once a second, which also finds a lost connection.
    answer();
    if (now - last_spoke_ms_ < kHeartbeat.count()) return true;
    const char* argv[] = {"ZADD", gateways_key.c_str(), now_text.c_str(), gateway_id_.c_str()};
    Reply r(static_cast<redisReply*>(redisCommandArgv(context_, 4, argv, nullptr)));
    if (!r) {
      disconnect(context_->errstr[0] ? context_->errstr : "the connection failed");
      return false;
    }
    last_spoke_ms_ = now;
    return true;
  }
  for (const Op& op : ops) {
    const std::string amount = std::to_string(op.amount), limit = std::to_string(op.limit),
                      expire = std::to_string(op.expire_ms);
    const std::string_view args[] = {"EVAL",  kScript, "2",   op.key, gateways_key, gateway_id_,
                                     op.mode, amount,  limit, expire, now_text};
    const char* argv[std::size(args)];
    std::size_t lengths[std::size(args)];
    for (std::size_t i = 0; i < std::size(args); ++i) {
      argv[i] = args[i].data();
      lengths[i] = args[i].size();
    }
    redisAppendCommandArgv(context_, static_cast<int>(std::size(args)), argv, lengths);
  }
  for (const Op& op : ops) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK) {
      disconnect(context_->errstr[0] ? context_->errstr : "the connection failed");
      answer();
      return false;
    }
    Reply r(static_cast<redisReply*>(raw));
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4) {
      std::lock_guard lock(mutex_);
      ++status_.failures;
      status_.last_error = r->type == REDIS_REPLY_ERROR ? fmt::format("the lease script failed: {}", r->str)
                                                        : "the lease script answered an unexpected reply";
      continue;
    }
    const auto number = [&](std::size_t i) {
      return static_cast<std::uint64_t>(std::max<long long>(0, r->element[i]->integer));
    };
    Lease& lease = op.state->leases[op.window];
    lease.granted.restore(op.id, number(1));
    lease.store_left.restore(op.id, left(op.limit, number(2)) + 1);
    if (op.mode == "lease") lease.last_chunk.store(number(0), std::memory_order_relaxed);
    gateways_ = std::max<std::uint64_t>(1, number(3));
  }
  {
    std::lock_guard lock(mutex_);
    ++status_.round_trips;
  }
  last_spoke_ms_ = now;
  answer();
  return true;
}

}  // namespace modelgate::tenancy
