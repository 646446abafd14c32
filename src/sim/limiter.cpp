#include "sim/limiter.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace modelgate::sim::detail {

namespace asio = boost::asio;

struct Limiter::Waiter {
  explicit Waiter(asio::any_io_executor ex) : wake(std::move(ex), 1) {}
  asio::experimental::concurrent_channel<void(boost::system::error_code)> wake;
  bool granted = false;  // guarded by Limiter::mutex_
};

void Limiter::note_running(std::int64_t now) {
  auto peak = peak_.load(std::memory_order_relaxed);
  while (now > peak && !peak_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

bool Limiter::try_acquire() {
  if (max_ == 0) {
    note_running(running_.fetch_add(1, std::memory_order_relaxed) + 1);
    return true;
  }
  std::lock_guard lock(mutex_);
  if (!queue_.empty() || running_.load(std::memory_order_relaxed) >= max_) return false;
  note_running(running_.fetch_add(1, std::memory_order_relaxed) + 1);
  return true;
}

asio::awaitable<bool> Limiter::acquire(asio::any_io_executor executor) {
  if (try_acquire()) co_return true;
  auto waiter = std::make_shared<Waiter>(executor);
  {
    std::lock_guard lock(mutex_);
    // A slot may have been freed between try_acquire() and here.
    if (queue_.empty() && running_.load(std::memory_order_relaxed) < max_) {
      note_running(running_.fetch_add(1, std::memory_order_relaxed) + 1);
      co_return true;
    }
    queue_.push_back(waiter);
    queued_.fetch_add(1, std::memory_order_relaxed);
  }
  auto [ec] = co_await waiter->wake.async_receive(asio::as_tuple(asio::use_awaitable));
  std::unique_lock lock(mutex_);
  if (waiter->granted) {
    if (!ec) co_return true;
    lock.unlock();
    release();  // granted and cancelled at the same time: pass the slot on
    co_return false;
  }
  // Cancelled while still queued.
  auto it = std::find(queue_.begin(), queue_.end(), waiter);
  if (it != queue_.end()) {
    queue_.erase(it);
    queued_.fetch_sub(1, std::memory_order_relaxed);
  }
  co_return false;
}

void Limiter::release() {
  if (max_ == 0) {
    running_.fetch_sub(1, std::memory_order_relaxed);
    return;
  }
  std::shared_ptr<Waiter> next;
  {
    std::lock_guard lock(mutex_);
    if (queue_.empty()) {
      running_.fetch_sub(1, std::memory_order_relaxed);
      return;
    }
    next = std::move(queue_.front());
    queue_.pop_front();
    queued_.fetch_sub(1, std::memory_order_relaxed);
    next->granted = true;  // the slot moves to `next`; running_ is unchanged
  }
  // Outside the lock: the channel posts the waiter's resumption to its own executor.
  next->wake.try_send(boost::system::error_code{});
}

}  // namespace modelgate::sim::detail
