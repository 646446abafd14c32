#include "balancing/prefix_index.h"

#include <algorithm>
#include <bit>

namespace modelgate::balancing {

namespace {
constexpr auto relaxed = std::memory_order_relaxed;
}

PrefixIndex::PrefixIndex(std::size_t max_bytes) {
  const std::size_t bucket_bytes = kWays * kWayBytes;
  std::size_t buckets = std::max<std::size_t>(1, max_bytes / bucket_bytes);
  buckets = std::bit_floor(buckets);
  capacity_ = buckets * kWays;
  mask_ = buckets - 1;
  ways_ = std::make_unique<Way[]>(capacity_);
  window_.store(capacity_, relaxed);
  limit_.store(capacity_, relaxed);
}

bool PrefixIndex::live(std::uint64_t key, std::uint64_t now, std::uint64_t floor,
                       std::uint64_t window) const {
  key = nonzero(key);
  const Way* b = bucket(key);
  for (std::size_t w = 0; w < kWays; ++w) {
    if (b[w].key.load(relaxed) != key) continue;
    const auto stamp = b[w].stamp.load(relaxed);
    return stamp >= floor && now - stamp < window;
  }
  return false;
}

std::size_t PrefixIndex::match(std::span<const std::uint64_t> chain) const {
  const auto now = clock_.load(relaxed);
  const auto floor = floor_.load(relaxed);
  const auto window = window_.load(relaxed);
  // What is cached is a prefix (see the header): the largest k with block k-1 live.
  std::size_t lo = 0, hi = chain.size();
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo + 1) / 2;
    if (live(chain[mid - 1], now, floor, window)) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

void PrefixIndex::insert(std::span<const std::uint64_t> chain, std::size_t held) {
  if (chain.empty()) return;
  const std::uint64_t n = chain.size();
  held = std::min<std::size_t>(held, n);
  // Only blocks the server does not hold yet take room in its cache: the clock advances by them.
  const std::uint64_t ticks = std::max<std::uint64_t>(n - held, 1);
  const std::uint64_t first = clock_.fetch_add(ticks, relaxed);
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto key = nonzero(chain[i]);
    // The first block the youngest; the held prefix all as young as the first new block.
    const std::uint64_t stamp = i < held ? first + ticks - 1 : first + (n - 1 - i);
    Way* b = bucket(key);
    Way* victim = &b[0];
    std::uint64_t oldest = UINT64_MAX;
    bool found = false;
    for (std::size_t w = 0; w < kWays; ++w) {
      if (b[w].key.load(relaxed) == key) {
        victim = &b[w];
        found = true;
        break;
      }
      const auto s = b[w].stamp.load(relaxed);
      if (s < oldest) {
        oldest = s;
        victim = &b[w];
      }
    }
    if (!found) victim->key.store(key, relaxed);
    victim->stamp.store(stamp, relaxed);
  }
}

void PrefixIndex::reset() { floor_.store(clock_.load(relaxed), relaxed); }

void PrefixIndex::shrink(double fraction) {
  fraction = std::clamp(fraction, 0.125, 0.5);
  const std::size_t min = std::max<std::size_t>(kWays, limit_.load(relaxed) / 64);
  const auto w = static_cast<std::size_t>(static_cast<double>(window_.load(relaxed)) * fraction);
  window_.store(std::max(min, w), relaxed);
}

void PrefixIndex::grow() {
  const auto w = window_.load(relaxed);
  window_.store(std::min(limit_.load(relaxed), w + std::max<std::size_t>(1, w / 4)), relaxed);
}

void PrefixIndex::limit(std::size_t blocks) {
  const std::size_t l = blocks == 0 ? capacity_ : std::clamp<std::size_t>(blocks, kWays, capacity_);
  if (limit_.exchange(l, relaxed) == l) return;
  if (window_.load(relaxed) > l) window_.store(l, relaxed);
}

}  // namespace modelgate::balancing
