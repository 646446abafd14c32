// The prompt of an OpenAI-style request as the prefix-cache index sees it: a canonical text, cut
// into blocks, each block named by a hash that covers every block before it (a hash chain).
//
// Canonical form. What an engine caches is the token sequence its chat template renders, and that
// depends only on the roles and contents in order, never on JSON key order, whitespace or escape
// spelling. So the text is rendered from the parsed body: `messages` (chat) as role, content, ...
// (a content given as parts contributes its text parts, and the raw JSON of other parts such as
// images); `prompt` (completions) as its string, or its list of strings or token ids; `input`
// (responses, embeddings) as a string, or items rendered like messages. The model name, and the
// LoRA adapter when one is named (vLLM's `lora_request`, or a model name that carries it), seed
// the chain: the same text sent to two models shares nothing, as on the engine.
//
// Blocks. A block is kBlockBytes bytes of canonical text: at the ~4 bytes per token of English
// BPE vocabularies that is 16 tokens, vLLM's default block. Only whole blocks are hashed (the
// engines cache only full blocks); a request that shares the first k blocks of an earlier one
// shares exactly its first k chain hashes, since hash i = f(hash i-1, block i).
//
// The block hash reads 8 bytes at a time (multiply and rotate, then murmur3's finaliser per
// block): ~1 ns per 8 bytes, so an 8 KB prompt is chained in about a microsecond. It is for
// placement, not for resisting chosen collisions.
//
// Parsing uses simdjson's on-demand parser with per-thread scratch: after warm-up no allocation
// for prompts up to kRetainBytes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::balancing {

inline constexpr std::size_t kBlockBytes = 64;
inline constexpr std::size_t kBytesPerToken = 4;
inline constexpr std::size_t kBlockTokens = kBlockBytes / kBytesPerToken;

struct PromptChain {
  std::vector<std::uint64_t> blocks;  // blocks[i] covers canonical bytes [0, (i+1) * kBlockBytes)
  std::uint64_t prompt_tokens = 0;    // estimate: canonical bytes / kBytesPerToken
  bool valid = false;                 // a prompt was found in the body

  void clear() {
    blocks.clear();
    prompt_tokens = 0;
    valid = false;
  }
};

// Renders the canonical prompt of `json_body` into `text` (cleared first); false when the body is
// not a JSON object or carries none of messages / prompt / input. Exposed for tests.
bool canonical_prompt(std::string_view json_body, std::string& text);

// Chains `text` under `seed` into out (cleared first).
void chain_blocks(std::string_view text, std::uint64_t seed, PromptChain& out);

// canonical_prompt then chain_blocks, seeded with the model (and adapter) named in the body.
// Reuses per-thread scratch. Returns out.valid.
bool build_prompt_chain(std::string_view json_body, PromptChain& out);

}  // namespace modelgate::balancing
