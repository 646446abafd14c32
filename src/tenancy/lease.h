// Leases of a key's shared windows (auth.store, docs/auth.md "Shared limits").
//
// With a limits store, several gateways share each key's requestsPerMinute, tokensPerMinute,
// tokensPerDay and tokensPerMonth. A round trip to the store per request would put Redis on the
// hot path, so each gateway leases chunks of a window's allowance instead: the store hands out
// min(asked, limit - everything handed out so far) atomically (limits_store.h), and the gateway
// admits from what it holds with the same compare-and-swap as without a store (limiter.h), the
// lease taking the place of the limit. The sum of the leases never exceeds the limit, so the
// gateways together never admit more than it.
//
// A chunk is a share of what the store had left, split among the gateways seen: left / (2 x
// gateways), at least what a waiting request lacks. Chunks shrink as the window fills, so when it
// runs out every gateway holds little that it may not use, and the total admitted gets close to
// the limit (exactly the limit while every gateway keeps receiving requests). A gateway leases
// again ahead of need when what it holds falls below half its last chunk, so a busy key rarely
// waits for the store.
#pragma once

#include <atomic>
#include <cstdint>

#include "tenancy/window.h"

namespace modelgate::tenancy {

// The windows a store shares, in this order (KeyState::leases).
enum class Shared : std::uint8_t { requests, tokens, day, month };
inline constexpr std::size_t kSharedWindows = 4;

// What this gateway holds of one shared window of one key. The store's thread writes `granted`
// and `store_left`; workers read them and post `want`.
struct Lease {
  Window granted;                            // leased from the store for the window
  Window store_left;                         // what the store had left after the last answer, + 1 (0: unknown)
  std::atomic<std::uint64_t> want{0};        // what a waiting request lacks (the largest one)
  std::atomic<std::uint64_t> last_chunk{0};  // the size of the last lease
};

// How much to ask the store for: a share of what it had left (`left_plus1`, 0: unknown, then the
// whole limit) split among `gateways` (at least 1), and at least `lacking`; never more than
// the limit.
std::uint64_t lease_request(std::uint64_t limit, std::uint64_t left_plus1, std::uint64_t gateways,
                            std::uint64_t lacking);

// Whether to lease ahead of need: what is left of the lease is below half its last chunk.
inline bool wants_refill(std::uint64_t granted, std::uint64_t used, std::uint64_t last_chunk) {
  const std::uint64_t held = granted > used ? granted - used : 0;
  return held * 2 < last_chunk || held == 0;
}

// What the limiter reads of a limits store: whether it is reachable and what to do when it is
// not, and a way to wake its thread when a key needs a lease (a virtual call made only then, not
// per request).
class StoreLink {
 public:
  virtual ~StoreLink() = default;
  bool connected() const { return connected_.load(std::memory_order_acquire); }
  bool fail_open() const { return fail_open_; }
  virtual void wake() = 0;

 protected:
  explicit StoreLink(bool fail_open) : fail_open_(fail_open) {}
  std::atomic<bool> connected_{false};
  const bool fail_open_;
};

}  // namespace modelgate::tenancy
