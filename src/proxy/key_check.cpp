#include "proxy/key_check.h"

#include <fmt/format.h>

#include <boost/beast/core/string.hpp>

#include "tenancy/key_table.h"

namespace modelgate::proxy {

namespace {

// The wall clock the windows are aligned on; one for the process.
const tenancy::Limiter& limiter() {
  static const tenancy::Limiter l;
  return l;
}

void append_rate_headers(std::string& out, const config::KeyLimits& l, const tenancy::Admission& a) {
  if (l.requestsPerMinute > 0) {
    fmt::format_to(std::back_inserter(out),
                   "x-ratelimit-limit-requests: {}\r\nx-ratelimit-remaining-requests: {}\r\n"
                   "x-ratelimit-reset-requests: {}\r\n",
                   l.requestsPerMinute, a.remaining_requests, tenancy::format_reset(a.reset_requests_ms));
  }
  if (l.tokensPerMinute > 0) {
    fmt::format_to(std::back_inserter(out),
                   "x-ratelimit-limit-tokens: {}\r\nx-ratelimit-remaining-tokens: {}\r\n"
                   "x-ratelimit-reset-tokens: {}\r\n",
                   l.tokensPerMinute, a.remaining_tokens, tenancy::format_reset(a.reset_tokens_ms));
  }
}

}  // namespace

bool authenticate(const tenancy::KeyTable& keys, const http1::RequestHead& req, tenancy::Caller& caller,
                  ErrorReply& error) {
  std::string_view value;
  int count = 0;
  for (const auto& f : req.headers()) {
    if (!boost::beast::iequals(f.name, "authorization")) continue;
    value = f.value;
    ++count;
  }
  tenancy::Credential why = tenancy::Credential::malformed;
  const tenancy::Key* key = count > 1 ? nullptr : keys.authenticate(value, why);
  if (key) {
    caller = key->caller();
    return true;
  }
  error.status = 401;
  error.code = "invalid_api_key";
  switch (why) {
    case tenancy::Credential::missing:
      error.message = "You didn't provide an API key. Send it in an Authorization header: "
                      "\"Authorization: Bearer YOUR_KEY\".";
      break;
    case tenancy::Credential::too_long:
      error.message = fmt::format("The API key is longer than {} bytes; check that the header holds only the key.",
                                  config::kMaxKeyBytes);
      break;
    case tenancy::Credential::unknown:
      error.message = "Incorrect API key provided. Ask the gateway's operator for a valid key.";
      break;
    default:
      error.message = count > 1 ? "The request has more than one Authorization header; send exactly one."
                                : "Malformed Authorization header: expected \"Bearer YOUR_KEY\".";
      break;
  }
  return false;
}

bool allow_model(const tenancy::Caller& caller, const std::string& model, ErrorReply& error) {
  if (!caller || caller.key->allows(model)) return true;
  error.status = 403;
  error.code = "model_not_allowed";
  error.message = fmt::format("The API key \"{}\" may not use the model `{}`. Ask the gateway's operator to add "
                              "it to the key's models.",
                              caller.name, model);
  return false;
}

void append_standing(const tenancy::Caller& caller, std::string& extra_head) {
  if (!caller) return;
  const tenancy::Key& key = *caller.key;
  append_rate_headers(extra_head, key.limits, limiter().standing(*key.state, key.limits, key.store));
}

KeyVerdict admit(const tenancy::Caller& caller, std::uint64_t body_bytes, tenancy::Admission& admission,
                 std::string& extra_head, ErrorReply& error, bool lease_overdue) {
  const tenancy::Key& key = *caller.key;
  tenancy::StoreLink* store = key.store;
  if (lease_overdue && store && !store->fail_open()) {
    admission = tenancy::Admission{};
    admission.store_down = true;
  } else {
    if (lease_overdue) store = nullptr;  // this gateway's own limits, as when the store is down
    admission = limiter().admit(*key.state, key.limits, tenancy::estimate_tokens(body_bytes), store);
  }
  if (admission.wait_lease) return KeyVerdict::wait;
  if (admission.store_down) {
    extra_head += "Retry-After: 1\r\n";
    error.status = 503;
    error.code = "limits_store_unavailable";
    error.message = "The limits store that shares this key's limits between gateways is unreachable, and the "
                    "gateway is set to refuse keyed requests then (auth.storeFailure: failClosed). Try again shortly.";
    return KeyVerdict::refused;
  }
  if (admission.refused == tenancy::Limit::none) {
    append_rate_headers(extra_head, key.limits, admission);
    return KeyVerdict::admitted;
  }
  const std::int64_t ms = admission.retry_after_ms;
  // A refused request consumed nothing: the headers show what is left for the next one.
  append_standing(caller, extra_head);
  fmt::format_to(std::back_inserter(extra_head), "Retry-After: {}\r\n", (ms + 999) / 1000);
  error.status = 429;
  error.code = "rate_limit_exceeded";
  const auto limit = admission.refused;
  const std::uint64_t value = limit == tenancy::Limit::requests      ? key.limits.requestsPerMinute
                              : limit == tenancy::Limit::tokens      ? key.limits.tokensPerMinute
                              : limit == tenancy::Limit::day         ? key.limits.tokensPerDay
                              : limit == tenancy::Limit::month       ? key.limits.tokensPerMonth
                                                                     : key.limits.concurrency;
  error.message = fmt::format("Rate limit reached for API key \"{}\": {} is {}. Try again in {}.", key.name,
                              tenancy::limit_name(limit), value, tenancy::format_reset(ms));
  return KeyVerdict::refused;
}

// Polls every millisecond: a lease answer comes within a round trip to the store, and only a
// key that ran out of its lease waits, so the timer costs less than a cross-thread wake-up would.
net::Task<void> wait_for_lease(const tenancy::Caller& caller, const tenancy::Admission& admission,
                               std::chrono::steady_clock::time_point until) {
  const tenancy::Key& key = *caller.key;
  net::Timer timer(co_await asio::this_coro::executor);
  while (key.state->lease_answers.load(std::memory_order_acquire) == admission.lease_answers && key.store &&
         key.store->connected() && std::chrono::steady_clock::now() < until) {
    timer.expires_after(std::chrono::milliseconds(1));
    co_await timer.async_wait(net::try_op);
  }
}

void finish(const tenancy::Caller& caller, const tenancy::Admission& admission,
            std::optional<std::uint64_t> prompt_tokens, std::optional<std::uint64_t> completion_tokens) {
  if (!caller) return;
  limiter().finish(*caller.key->state, caller.key->limits, admission, prompt_tokens, completion_tokens);
}

}  // namespace modelgate::proxy
