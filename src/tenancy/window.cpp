#include "tenancy/window.h"

#include <algorithm>

namespace modelgate::tenancy {

std::uint64_t Window::current(std::uint64_t packed, std::uint64_t window) {
  const std::uint64_t stored = packed >> kCountBits, id = window & kIdMask;
  const bool stored_newer = stored != id && ((stored - id) & kIdMask) < (kIdMask + 1) / 2;
  return stored_newer ? stored : id;
}

bool Window::fill(std::uint64_t window, std::uint64_t n, std::uint64_t cap) {
  std::uint64_t now = packed_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t id = current(now, window);
    const std::uint64_t count = (now >> kCountBits) == id ? now & kCountMask : 0;
    if (count + n > cap) return false;
    const std::uint64_t next = pack(id, std::min(count + n, kCountMask));
    if (packed_.compare_exchange_weak(now, next, std::memory_order_relaxed)) return true;
  }
}

void Window::adjust(std::uint64_t window, std::int64_t delta) {
  std::uint64_t now = packed_.load(std::memory_order_relaxed);
  for (;;) {
    const std::uint64_t id = current(now, window);
    const auto count = (now >> kCountBits) == id ? static_cast<std::int64_t>(now & kCountMask) : 0;
    const std::uint64_t next = pack(id, static_cast<std::uint64_t>(std::max<std::int64_t>(0, count + delta)));
    if (packed_.compare_exchange_weak(now, next, std::memory_order_relaxed)) return;
  }
}

std::uint64_t Window::used(std::uint64_t window) const {
  const std::uint64_t now = packed_.load(std::memory_order_relaxed);
  return (now >> kCountBits) == current(now, window) ? now & kCountMask : 0;
}

void Window::restore(std::uint64_t window, std::uint64_t count) {
  packed_.store(pack(window, count), std::memory_order_relaxed);
}

}  // namespace modelgate::tenancy
