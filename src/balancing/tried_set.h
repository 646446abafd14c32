// The servers one request has already tried, as a bitmap over the pool's server indices.
//
// A retry must not land on a server the request already tried (nginx keeps the same `tried`
// bitmap in its upstream peer data). Pool asks "was server i tried?" once per server it looks at,
// so the answer must not depend on how many were tried: one bit test instead of a search of a
// list. The first kInline indices live inline (32 bytes, enough for every pool seen in practice),
// so a request never allocates for them; an index beyond that spills into a vector, allocated on
// the first such insert and kept, with its capacity, by the exchange state that owns the set.
//
// Indices are positions in one Pool's server list: a set is meaningful only with the pool whose
// picks filled it, for the length of one request.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace modelgate::balancing {

class TriedSet {
 public:
  static constexpr std::size_t kInline = 256;  // indices below this never allocate

  bool contains(std::uint32_t index) const {
    if (index < kInline) return (inline_[index / 64] >> (index % 64)) & 1u;
    const std::size_t word = (index - kInline) / 64;
    return word < more_.size() && ((more_[word] >> (index % 64)) & 1u);
  }

  void insert(std::uint32_t index) {
    std::uint64_t& word = slot(index);
    const std::uint64_t bit = std::uint64_t{1} << (index % 64);
    count_ += (word & bit) == 0;
    word |= bit;
  }

  // How many distinct servers were inserted.
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }

  // Forgets every index; keeps the spill vector's capacity for the next request.
  void clear() {
    inline_.fill(0);
    more_.assign(more_.size(), 0);
    count_ = 0;
  }

 private:
  std::uint64_t& slot(std::uint32_t index) {
    if (index < kInline) return inline_[index / 64];
    const std::size_t word = (index - kInline) / 64;
    if (word >= more_.size()) more_.resize(word + 1, 0);
    return more_[word];
  }

  std::array<std::uint64_t, kInline / 64> inline_{};
  std::vector<std::uint64_t> more_;  // indices from kInline on
  std::size_t count_ = 0;
};

}  // namespace modelgate::balancing
