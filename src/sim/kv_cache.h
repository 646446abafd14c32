// The engine model's paged KV cache, after vLLM's automatic prefix caching: a fixed pool of
// blocks of `block_tokens` tokens. A block whose tokens have been computed is published under its
// prefix key (the hash chain of tokenizer.h), so a later sequence starting with the same tokens
// takes it instead of computing it again. Blocks no sequence references stay cached until their
// space is needed, and are then evicted least recently released first; a sequence releases its
// blocks tail first, so the end of a prompt goes before its shared beginning.
//
// Data structures: a vector of blocks, a hash map key → block, a stack of blank free blocks and
// an intrusive doubly linked LRU list (indices into the vector) of cached unreferenced blocks, so
// every operation is O(1) per block and allocates nothing once warmed up.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace modelgate::sim::detail {

class KvCache {
 public:
  explicit KvCache(int total_blocks);

  int total_blocks() const { return static_cast<int>(blocks_.size()); }
  // Blocks referenced by at least one sequence (vLLM's "usage": cached idle blocks count as free).
  int used_blocks() const { return total_blocks() - free_blocks(); }
  int free_blocks() const { return static_cast<int>(blank_.size()) + lru_size_; }

  // How many blocks from the start of `keys` are cached (stops at the first miss).
  int match(std::span<const std::uint64_t> keys) const;
  // Gives a sequence `n` blocks: the cached blocks of keys[0..cached) (as match() found them),
  // then fresh ones, evicting idle cached blocks LRU. False, changing nothing, when the pool
  // cannot supply them.
  bool allocate(std::span<const std::uint64_t> keys, int cached, int n, std::vector<int>& table);
  // Block `block` now holds the computed tokens with prefix key `key`: reusable from now on.
  void publish(int block, std::uint64_t key);
  // A sequence is done with its blocks (finished or aborted).
  void release(const std::vector<int>& table);

 private:
  struct Block {
    std::uint64_t key = 0;
    bool keyed = false;  // published under `key`
    int refs = 0;
    int prev = -1, next = -1;  // LRU links, while keyed and unreferenced
  };
  void lru_push_back(int b);
  void lru_unlink(int b);
  int take_fresh();  // a blank block, or the LRU one evicted

  std::vector<Block> blocks_;
  std::unordered_map<std::uint64_t, int> by_key_;
  std::vector<int> blank_;
  int lru_head_ = -1, lru_tail_ = -1, lru_size_ = 0;
};

}  // namespace modelgate::sim::detail
