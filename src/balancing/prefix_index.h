// A model of one server's prefix (KV) cache: which prompt blocks (prompt_chain.h) it probably
// still holds, in bounded memory, shared by every worker without a lock.
//
// Layout: a set-associative table, as a CPU cache is built: 2^k buckets of 4 ways, each way a
// block hash and the stamp of its last use (16 bytes; a bucket is one 64-byte cache line). A
// block lives in the bucket its hash selects; inserting into a full bucket replaces its oldest
// way. The table is sized once from `maxIndexBytes` and never grows, so memory stays within the
// bound however many requests pass.
//
// Recency: the index keeps a clock that advances by one per block inserted that it did not hold
// (a block already held is only touched: it takes no new room on the engine either). A block
// counts as cached while (clock - its stamp) < window, so the table models an LRU cache of
// `window` blocks whatever its physical size. Counting every block sent instead, a server that
// answered many hits on a long shared prefix was modelled as evicting it after a few requests. The blocks of one request are stamped in reverse (its first block
// youngest), as vLLM frees a finished sequence's blocks tail first: under pressure a prompt's end
// is forgotten before its beginning, and what remains cached is always a prefix. That is what lets
// match() binary-search the chain instead of probing every block.
//
// Correction (prediction_check.h): when the server reports far fewer cached tokens than were
// predicted, the window shrinks (the real cache is smaller, or busier, than modelled); when it
// reports what was predicted, the window grows back towards the table's capacity, or towards the
// engine's own KV capacity when it publishes it (limit(), from serverMetrics). reset() forgets
// every block at once (a restarted server has an empty cache) by moving a floor under the stamps.
//
// Concurrency: every field is a relaxed atomic. Two workers inserting into the same bucket at once
// may pair one's key with the other's stamp or lose one insert; the index is a prediction, checked
// against the server's own report, so a rare wrong entry costs one mispredicted request, never
// correctness. No lock, no allocation after construction.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>

namespace modelgate::balancing {

class PrefixIndex {
 public:
  static constexpr std::size_t kWays = 4;
  static constexpr std::size_t kWayBytes = 16;

  // A table of at most max_bytes (at least one bucket).
  explicit PrefixIndex(std::size_t max_bytes);

  // How many leading blocks of `chain` are cached.
  std::size_t match(std::span<const std::uint64_t> chain) const;
  // Records `chain` as just sent to the server (every block touched). `held` is match(chain),
  // when the caller has just computed it.
  void insert(std::span<const std::uint64_t> chain) { insert(chain, match(chain)); }
  void insert(std::span<const std::uint64_t> chain, std::size_t held);
  // Forgets every block.
  void reset();
  // Shrinks the modelled cache to `fraction` of itself (at most a half, at least an eighth; not
  // below limit / 64); grows it by a quarter (up to the limit).
  void shrink(double fraction = 0.5);
  void grow();
  // The engine holds at most `blocks` blocks (its KV capacity, scraped): the window never exceeds
  // it. 0: no limit but the table's.
  void limit(std::size_t blocks);
  std::size_t limit_blocks() const { return limit_.load(std::memory_order_relaxed); }

  std::size_t capacity_blocks() const { return capacity_; }
  std::size_t window_blocks() const { return window_.load(std::memory_order_relaxed); }
  std::size_t bytes() const { return capacity_ * kWayBytes; }

 private:
  struct alignas(kWayBytes) Way {
    std::atomic<std::uint64_t> key{0};  // 0: empty
    std::atomic<std::uint64_t> stamp{0};
  };
  static_assert(sizeof(Way) == kWayBytes);

  bool live(std::uint64_t key, std::uint64_t now, std::uint64_t floor, std::uint64_t window) const;
  Way* bucket(std::uint64_t key) const { return &ways_[(key & mask_) * kWays]; }
  static std::uint64_t nonzero(std::uint64_t key) { return key ? key : 1; }

  std::size_t capacity_;  // ways
  std::uint64_t mask_;    // buckets - 1
  std::unique_ptr<Way[]> ways_;
  std::atomic<std::uint64_t> clock_{1};
  std::atomic<std::uint64_t> floor_{1};  // stamps below it are gone (reset)
  std::atomic<std::size_t> window_;
  std::atomic<std::size_t> limit_;  // capacity_, or the engine's KV capacity when smaller
};

}  // namespace modelgate::balancing
