// Waiting in tests for a condition, never for a fixed time.
//
// A test that sleeps a fixed time and then asserts either wastes that time on a fast machine or
// fails on a loaded one. Tests poll for the condition itself with a bound instead; where what is
// asserted is that something does not happen, they first wait for evidence that it had every
// chance to (more requests served, more checks made, the thread that could do it idle).
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace modelgate::test {

// Polls `done` every `step` until it is true (true) or `timeout` passes (false).
inline bool wait_until(const std::function<bool()>& done, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds step = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(step);
  }
  return true;
}

}  // namespace modelgate::test
