// What consistent_hash hashes (`loadBalancer.hashKey`; ip_hash always uses the client IP), and the
// 64-bit hash both share.
//
//   client_ip      the client's address (the default)
//   header:NAME    the first NAME header (name compared without case), e.g. header:X-Session-Id
//   cookie:NAME    the cookie NAME from the Cookie header(s), e.g. cookie:session
//   body:FIELD     a top-level string or number field of the JSON body, e.g. body:user (OpenAI's
//                  end-user id), so one user's requests reach the server holding their KV cache
//
// A key that is absent, or empty, falls back to the client IP: a request always hashes to
// something, and clients without the key are still spread by address rather than piled onto one
// server. A number field is hashed as written ("1" and "1.0" are different keys).
//
// The hash is FNV-1a over the bytes followed by murmur3's 64-bit finaliser: FNV-1a alone is weak
// in its low bits and under short inputs (ring positions differ only in a replica index), the
// finaliser spreads every input bit over all 64 output bits. Small, fast on short keys, and good
// enough for placement; it is not meant to resist a client choosing keys on purpose.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "routing/rule.h"
#include "text/hash.h"

namespace modelgate::balancing {

using text::hash_bytes;
using text::mix64;

struct HashKey {
  enum Kind { client_ip, header, cookie, body } kind = client_ip;
  std::string name;  // header name, cookie name or body field; empty for client_ip

  // "client_ip", "header:NAME", "cookie:NAME" (NAME an HTTP token) or "body:FIELD" (non-empty);
  // nullopt otherwise. The config loader accepts exactly these forms.
  static std::optional<HashKey> parse(std::string_view text);
};

// The 64-bit hash of the request's key (for PickContext::key_hash); the client IP's hash when the
// header, cookie or field is absent or empty. `json_body` is the request body as read ("" when it
// was not read): it need not be padded. Allocation-free after warm-up for bodies up to 1 MiB.
std::uint64_t hash_request_key(const HashKey& key, const routing::RequestView& request,
                               std::string_view json_body);

}  // namespace modelgate::balancing
