// What a waiting request costs in the fair queue (fair_share.h): an estimate of its tokens, made
// only when it has to wait, from what the gateway holds without tokenizing. The prompt is taken as
// one token per 4 bytes of body (the rule of thumb of OpenAI's tokenizer for English; JSON syntax
// and the other fields are counted too, which a long prompt dwarfs), plus the completion it asks
// for: `max_tokens` or `max_completion_tokens` when the body gives one. A body not read whole (a
// streamed upload) is estimated from its Content-Length; one of unknown length costs 1.
#pragma once

#include <cstdint>
#include <string>

namespace modelgate::proxy {

// A body read whole (it gets the JSON parser's padding as spare capacity, its size unchanged).
std::uint64_t estimate_request_tokens(std::string& body);
// A body not read whole, of that Content-Length (0 when unknown).
std::uint64_t estimate_streamed_tokens(std::uint64_t content_length);

}  // namespace modelgate::proxy
