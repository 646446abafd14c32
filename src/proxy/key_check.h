// The API-key steps of a request on an entry point with `auth` (docs/auth.md), called by the
// session between routing and forwarding:
//   authenticate   Authorization: Bearer <key> -> the caller, or 401 invalid_api_key
//   allow_model    the model the client named against the key's globs -> 403 model_not_allowed
//   admit          the key's limits -> 429 rate_limit_exceeded with Retry-After; with a limits
//                  store (auth.store), possibly "wait": the key needs a lease first, which
//                  wait_for_lease awaits without blocking the worker; an unreachable store with
//                  failClosed -> 503 limits_store_unavailable
// Every keyed answer, refused or forwarded, carries OpenAI's x-ratelimit-* header fields, written
// into the exchange's extra head lines. The key itself is never logged: only its name.
#pragma once

#include <optional>
#include <string>

#include "http1/parser.h"
#include "net/io.h"
#include "proxy/errors.h"
#include "runtime/snapshot.h"
#include "tenancy/caller.h"
#include "tenancy/limiter.h"

namespace modelgate::proxy {

// False with `error` set when the request carries no valid key.
bool authenticate(const tenancy::KeyTable& keys, const http1::RequestHead& req, tenancy::Caller& caller,
                  ErrorReply& error);
// False with `error` set when the key may not use `model`.
bool allow_model(const tenancy::Caller& caller, const std::string& model, ErrorReply& error);
enum class KeyVerdict : std::uint8_t { admitted, refused, wait };
// How long a request waits for a lease before the store counts as unreachable for it.
inline constexpr std::chrono::milliseconds kLeaseWait{600};
// Takes the request's share of the key's limits; refused with `error` set (429, or 503 when the
// store is unreachable and failClosed) when one refuses; wait when a lease is needed first (then
// wait_for_lease and call again; `lease_overdue`: the wait is over, decide without the store).
// Appends the x-ratelimit-* fields (and Retry-After) to `extra_head` once decided.
KeyVerdict admit(const tenancy::Caller& caller, std::uint64_t body_bytes, tenancy::Admission& admission,
                 std::string& extra_head, ErrorReply& error, bool lease_overdue = false);
// Until the store's thread has answered since `admission` was made, the store is down, or `until`.
net::Task<void> wait_for_lease(const tenancy::Caller& caller, const tenancy::Admission& admission,
                               std::chrono::steady_clock::time_point until);
// Appends the x-ratelimit-* fields as they stand, taking nothing: for keyed answers that are not
// forwarded (403 model_not_allowed, the gateway's own model list).
void append_standing(const tenancy::Caller& caller, std::string& extra_head);
// The request is over: its usage corrects the estimate, its concurrency slot is given back.
void finish(const tenancy::Caller& caller, const tenancy::Admission& admission,
            std::optional<std::uint64_t> prompt_tokens, std::optional<std::uint64_t> completion_tokens);

}  // namespace modelgate::proxy
