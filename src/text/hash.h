// The 64-bit hash of bytes that placement, hash keys and the prompt chain share: FNV-1a followed
// by murmur3's 64-bit finaliser. FNV-1a alone is weak in its low bits and under short inputs (ring
// positions differ only in a replica index); the finaliser spreads every input bit over all 64
// output bits. Small, fast on short keys and good enough for placement; it is not meant to resist
// a client choosing keys on purpose.
#pragma once

#include <cstdint>
#include <string_view>

namespace modelgate::text {

// murmur3's fmix64: a bijection in which every input bit flips each output bit with p ~ 1/2.
constexpr std::uint64_t mix64(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  x ^= x >> 33;
  return x;
}

// FNV-1a (64-bit) of `bytes`, starting from a basis perturbed by `seed`, then mix64.
constexpr std::uint64_t hash_bytes(std::string_view bytes, std::uint64_t seed = 0) {
  std::uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

}  // namespace modelgate::text
