#include "net/clock.h"

#include <time.h>

namespace modelgate::net {

SteadyTime steady_coarse_now() {
  // steady_clock is CLOCK_MONOTONIC; the coarse one counts from the same origin, up to one clock
  // tick behind.
  static const auto resolution = [] {
    timespec res{};
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    return std::chrono::seconds(res.tv_sec) + std::chrono::nanoseconds(res.tv_nsec);
  }();
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return SteadyTime(std::chrono::duration_cast<SteadyTime::duration>(
      std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec) + resolution));
}

}  // namespace modelgate::net
