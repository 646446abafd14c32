// The engine model's stand-in for a tokenizer: deterministic, about 4 bytes of UTF-8 per token,
// and prefix-stable — two texts that share their first N bytes share their first ~N/4 tokens,
// which is all a prefix cache needs. A token is the shortest run of at least 4 bytes that ends
// on a character boundary (so a multi-byte character is never split); its id is an FNV-1a hash
// of those bytes.
//
// The engine never needs the token ids themselves, only the hash chain over full blocks of
// `block_tokens` tokens (vLLM's prefix-cache keys): key i covers blocks 0..i, so equal keys mean
// equal prefixes. Both are produced in one pass without storing the tokens.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::sim::detail {

struct TokenizedPrompt {
  int tokens = 0;
  std::vector<std::uint64_t> block_keys;  // one per full block: the hash chain
};

inline constexpr int kBytesPerToken = 4;

// Appends `text` to a prompt being tokenized; call finish() after the last piece. The pieces
// are tokenized as if concatenated.
class Tokenizer {
 public:
  explicit Tokenizer(int block_tokens, TokenizedPrompt& out);
  void add(std::string_view text);
  void finish();  // a trailing partial token counts as a token

 private:
  void end_token();

  const int block_tokens_;
  TokenizedPrompt& out_;
  std::uint64_t token_hash_;
  int token_bytes_ = 0;
  std::uint64_t chain_;
  int in_block_ = 0;
};

// The chat template the engine model renders messages with (ChatML, as Qwen uses):
// "<|im_start|>ROLE\nCONTENT<|im_end|>\n" per message, then "<|im_start|>assistant\n".
inline constexpr std::string_view kTurnStart = "<|im_start|>";
inline constexpr std::string_view kTurnEnd = "<|im_end|>\n";

}  // namespace modelgate::sim::detail
