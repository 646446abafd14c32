// Fixed-size relay buffers, lent by a worker to one exchange at a time. An idle keep-alive client
// connection holds none, and a busy worker allocates them once.
#pragma once

#include <memory>
#include <vector>

namespace modelgate::proxy {

class BufferPool {
 public:
  static constexpr std::size_t kSize = 16 * 1024;

  class Lease {
   public:
    Lease(BufferPool& pool, std::unique_ptr<char[]> buf) : pool_(&pool), buf_(std::move(buf)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (buf_) pool_->free_.push_back(std::move(buf_));
    }
    char* data() { return buf_.get(); }
    static constexpr std::size_t size() { return kSize; }

   private:
    BufferPool* pool_;
    std::unique_ptr<char[]> buf_;
  };

  Lease lease() {
    if (free_.empty()) return Lease(*this, std::make_unique_for_overwrite<char[]>(kSize));
    auto b = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(b));
  }

 private:
  std::vector<std::unique_ptr<char[]>> free_;
};

}  // namespace modelgate::proxy
