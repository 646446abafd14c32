// Rendezvous (highest random weight) hashing: a key goes to the server that scores highest for it,
// the score a hash of the key and the server's URL (Thaler and Ravishankar, "Using name-based
// mappings to increase hit rates", IEEE/ACM ToN 1998). It needs no shared state: every gateway
// and every worker that knows the same servers computes the same winner, whatever the order of
// its list and whatever it has seen before. When the winner cannot take the key, the runner-up
// does — the same runner-up everywhere — and a server leaving moves only its own keys.
//
// Weights: score = w / -ln(u), with u the hash read as a uniform number in (0, 1), gives each
// server a share of keys proportional to its weight (the logarithmic method of Schindelhauer and
// Schomaker, "Weighted distributed hash tables", SPAA 2005). One multiply-shift hash and one log
// per server scored; cache_aware scores only for prompts no server holds yet.
#pragma once

#include <cmath>
#include <cstdint>

#include "text/hash.h"

namespace modelgate::balancing {

// `server` is the hash of the server's URL (text::hash_bytes), computed once per server.
inline double rendezvous_score(std::uint64_t key, std::uint64_t server, int weight) {
  const std::uint64_t h = text::mix64(key ^ server);
  const double u = (static_cast<double>(h >> 11) + 0.5) * 0x1p-53;  // (0, 1)
  return static_cast<double>(weight < 1 ? 1 : weight) / -std::log(u);
}

}  // namespace modelgate::balancing
