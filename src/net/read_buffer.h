// A connection's input buffer: bytes received and not yet consumed, in one contiguous block so a
// message head can be parsed where it landed (the parser returns views into it).
//
// It grows only when a message needs it and goes back to its small size once empty, so an idle
// connection keeps little. Views into it stay valid until consume() empties it, compact() or
// prepare() moves bytes; filling its free tail (commit) never moves them.
#pragma once

#include <cstring>
#include <memory>
#include <span>
#include <string_view>

namespace modelgate::net {

class ReadBuffer {
 public:
  explicit ReadBuffer(std::size_t initial) : initial_(initial) {}

  std::string_view data() const { return {data_.get() + begin_, end_ - begin_}; }
  std::size_t size() const { return end_ - begin_; }
  bool empty() const { return begin_ == end_; }
  std::size_t capacity() const { return capacity_; }

  // Free space at the end, as it is (no bytes move).
  std::span<char> tail() { return {data_.get() + end_, capacity_ - end_}; }

  // Free space of at least `min` bytes at the end, moving the unconsumed bytes to the front or
  // growing the block as needed. Invalidates views.
  std::span<char> prepare(std::size_t min) {
    if (!data_) allocate(std::max(initial_, min));
    if (capacity_ - end_ >= min) return tail();
    const std::size_t used = size();
    if (capacity_ - used >= min && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, used);
    } else {
      std::size_t cap = capacity_;
      while (cap - used < min) cap *= 2;
      auto bigger = std::make_unique_for_overwrite<char[]>(cap);
      std::memcpy(bigger.get(), data_.get() + begin_, used);
      data_ = std::move(bigger);
      capacity_ = cap;
    }
    begin_ = 0;
    end_ = used;
    return tail();
  }

  void commit(std::size_t n) { end_ += n; }

  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) {
      begin_ = end_ = 0;
      if (capacity_ > initial_) release();  // a large message passed: back to the small block
    }
  }

  // Appends bytes (moving as needed).
  void append(std::string_view bytes) {
    auto t = prepare(bytes.size());
    std::memcpy(t.data(), bytes.data(), bytes.size());
    commit(bytes.size());
  }

  // Frees the block when nothing is buffered (an idle connection then holds none).
  void release() {
    if (!empty()) return;
    data_.reset();
    capacity_ = begin_ = end_ = 0;
  }

 private:
  void allocate(std::size_t cap) {
    data_ = std::make_unique_for_overwrite<char[]>(cap);
    capacity_ = cap;
    begin_ = end_ = 0;
  }

  std::unique_ptr<char[]> data_;
  std::size_t initial_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
};

}  // namespace modelgate::net
