// One fixed window of a limit (limiter.h): the window's number and its count in one 64-bit
// atomic, changed by compare-and-swap, so a count is taken within a limit exactly from any number
// of threads at once and rolls over to the next window in the same CAS that counts its first use.
#pragma once

#include <atomic>
#include <cstdint>

namespace modelgate::tenancy {

// A fixed window: the window's number (20 bits, wraps after 2^20 windows) and its count (44 bits).
// Two threads may read the clock either side of a window's end: a window number older than the
// stored one then counts into the stored (newer) window rather than overwrite it.
class Window {
 public:
  static constexpr std::uint64_t kCountBits = 44;
  static constexpr std::uint64_t kCountMask = (std::uint64_t{1} << kCountBits) - 1;
  static constexpr std::uint64_t kIdMask = (std::uint64_t{1} << (64 - kCountBits)) - 1;

  // Adds `n` when the count stays within `limit` (0: no limit); false (and nothing added) if not.
  bool take(std::uint64_t window, std::uint64_t n, std::uint64_t limit) {
    return fill(window, n, limit == 0 ? ~std::uint64_t{0} : limit);
  }
  // Adds `n` when the count stays within `cap` (0 included: nothing fits); false if not.
  bool fill(std::uint64_t window, std::uint64_t n, std::uint64_t cap);
  // Adds `delta` (may be negative; the count stays >= 0) to the window.
  void adjust(std::uint64_t window, std::int64_t delta);
  // The count in `window` (0 when the stored one is older).
  std::uint64_t used(std::uint64_t window) const;
  // For restoring a kept budget: sets the count of `window`.
  void restore(std::uint64_t window, std::uint64_t count);
  std::uint64_t raw() const { return packed_.load(std::memory_order_relaxed); }

 private:
  static std::uint64_t pack(std::uint64_t window, std::uint64_t count) {
    return ((window & kIdMask) << kCountBits) | (count & kCountMask);
  }
  // The window `window` means against what is stored: itself, or the stored one when that is newer.
  static std::uint64_t current(std::uint64_t packed, std::uint64_t window);
  std::atomic<std::uint64_t> packed_{0};
};

}  // namespace modelgate::tenancy
