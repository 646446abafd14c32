#include "sim/kv_cache.h"

namespace modelgate::sim::detail {

KvCache::KvCache(int total_blocks) : blocks_(total_blocks > 0 ? total_blocks : 0) {
  blank_.reserve(blocks_.size());
  for (int b = total_blocks - 1; b >= 0; --b) blank_.push_back(b);  // block 0 handed out first
  by_key_.reserve(blocks_.size());
}

int KvCache::match(std::span<const std::uint64_t> keys) const {
  int n = 0;
  for (auto key : keys) {
    if (!by_key_.contains(key)) break;
    ++n;
  }
  return n;
}

bool KvCache::allocate(std::span<const std::uint64_t> keys, int cached, int n,
                       std::vector<int>& table) {
  // Cached blocks that sit idle in the LRU list are about to be taken, not evicted.
  int idle_hits = 0;
  for (int i = 0; i < cached; ++i) idle_hits += blocks_[by_key_.at(keys[i])].refs == 0;
  if (n - cached > free_blocks() - idle_hits) return false;
  table.clear();
  table.reserve(n);
  for (int i = 0; i < cached; ++i) {
    int b = by_key_.at(keys[i]);
    if (blocks_[b].refs++ == 0) lru_unlink(b);
    table.push_back(b);
  }
  for (int i = cached; i < n; ++i) {
    int b = take_fresh();
    blocks_[b].refs = 1;
    table.push_back(b);
  }
  return true;
}

void KvCache::publish(int block, std::uint64_t key) {
  Block& b = blocks_[block];
  if (b.keyed) return;
  if (!by_key_.try_emplace(key, block).second) return;  // another block already holds it
  b.key = key;
  b.keyed = true;
}

void KvCache::release(const std::vector<int>& table) {
  for (auto it = table.rbegin(); it != table.rend(); ++it) {
    Block& b = blocks_[*it];
    if (--b.refs > 0) continue;
    if (b.keyed) {
      lru_push_back(*it);
    } else {
      blank_.push_back(*it);
    }
  }
}

int KvCache::take_fresh() {
  if (!blank_.empty()) {
    int b = blank_.back();
    blank_.pop_back();
    return b;
  }
  int b = lru_head_;  // allocate() checked that one exists
  lru_unlink(b);
  by_key_.erase(blocks_[b].key);
  blocks_[b].keyed = false;
  return b;
}

void KvCache::lru_push_back(int b) {
  blocks_[b].prev = lru_tail_;
  blocks_[b].next = -1;
  if (lru_tail_ >= 0) {
    blocks_[lru_tail_].next = b;
  } else {
    lru_head_ = b;
  }
  lru_tail_ = b;
  ++lru_size_;
}

void KvCache::lru_unlink(int b) {
  Block& x = blocks_[b];
  if (x.prev >= 0) {
    blocks_[x.prev].next = x.next;
  } else {
    lru_head_ = x.next;
  }
  if (x.next >= 0) {
    blocks_[x.next].prev = x.prev;
  } else {
    lru_tail_ = x.prev;
  }
  x.prev = x.next = -1;
  --lru_size_;
}

}  // namespace modelgate::sim::detail
