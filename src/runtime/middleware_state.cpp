#include "runtime/middleware_state.h"

#include <algorithm>

namespace modelgate::runtime {

std::int64_t RateLimiter::admit(std::uint64_t source, std::int64_t now_ns) {
  // A slot whose TAT has passed holds a full bucket: as good as a new one for another source.
  auto& slot = slots_.find(source, [&](std::int64_t tat) { return tat <= now_ns; });
  std::int64_t tat = slot.value.load(std::memory_order_relaxed);
  for (;;) {
    const std::int64_t base = std::max(tat, now_ns);
    if (base - now_ns > tolerance_) return base - now_ns - tolerance_;
    if (slot.value.compare_exchange_weak(tat, base + interval_, std::memory_order_relaxed)) return 0;
  }
}

std::atomic<std::int64_t>* InFlightLimiter::enter(std::uint64_t source) {
  auto& slot = slots_.find(source, [](std::int64_t count) { return count == 0; });
  std::int64_t count = slot.value.load(std::memory_order_relaxed);
  do {
    if (count >= amount_) return nullptr;
  } while (!slot.value.compare_exchange_weak(count, count + 1, std::memory_order_acq_rel));
  return &slot.value;
}

}  // namespace modelgate::runtime
