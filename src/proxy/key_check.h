// The API-key steps of a request on an entry point with `auth` (docs/auth.md), called by the
// session between routing and forwarding:
//   authenticate   Authorization: Bearer <key> -> the caller, or 401 invalid_api_key
//   allow_model    the model the client named against the key's globs -> 403 model_not_allowed
//   admit          the key's limits -> 429 rate_limit_exceeded with Retry-After
// Every keyed answer, refused or forwarded, carries OpenAI's x-ratelimit-* header fields, written
// into the exchange's extra head lines. The key itself is never logged: only its name.
#pragma once

#include <optional>
#include <string>

#include "http1/parser.h"
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
// Takes the request's share of the key's limits; false with `error` set (429) when one refuses.
// Appends the x-ratelimit-* fields (and Retry-After) to `extra_head` either way.
bool admit(const tenancy::Caller& caller, std::uint64_t body_bytes, tenancy::Admission& admission,
           std::string& extra_head, ErrorReply& error);
// Appends the x-ratelimit-* fields as they stand, taking nothing: for keyed answers that are not
// forwarded (403 model_not_allowed, the gateway's own model list).
void append_standing(const tenancy::Caller& caller, std::string& extra_head);
// The request is over: its usage corrects the estimate, its concurrency slot is given back.
void finish(const tenancy::Caller& caller, const tenancy::Admission& admission,
            std::optional<std::uint64_t> prompt_tokens, std::optional<std::uint64_t> completion_tokens);

}  // namespace modelgate::proxy
