#include "sim/tokenizer.h"

namespace modelgate::sim::detail {

namespace {
constexpr std::uint64_t kFnvOffset = 1469598103934665603ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

// splitmix64's finaliser: folds a token id into the chain with good diffusion.
std::uint64_t mix(std::uint64_t chain, std::uint64_t token) {
  std::uint64_t z = chain ^ (token + 0x9e3779b97f4a7c15ull + (chain << 6) + (chain >> 2));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

Tokenizer::Tokenizer(int block_tokens, TokenizedPrompt& out)
    : block_tokens_(block_tokens > 0 ? block_tokens : 1),
      out_(out),
      token_hash_(kFnvOffset),
      chain_(kFnvOffset) {
  out_.tokens = 0;
  out_.block_keys.clear();
}

void Tokenizer::add(std::string_view text) {
  for (unsigned char c : text) {
    // A UTF-8 continuation byte (10xxxxxx) belongs to the token in progress.
    if (token_bytes_ >= kBytesPerToken && (c & 0xC0) != 0x80) end_token();
    token_hash_ = (token_hash_ ^ c) * kFnvPrime;
    ++token_bytes_;
  }
}

void Tokenizer::finish() {
  if (token_bytes_ > 0) end_token();
}

void Tokenizer::end_token() {
  ++out_.tokens;
  chain_ = mix(chain_, token_hash_);
  if (++in_block_ == block_tokens_) {
    out_.block_keys.push_back(chain_);
    in_block_ = 0;
  }
  token_hash_ = kFnvOffset;
  token_bytes_ = 0;
}

}  // namespace modelgate::sim::detail
