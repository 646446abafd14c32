// Writing OpenAI response bodies: completions, Responses API objects, SSE chunks in OpenAI's streaming shape,
// model lists, embeddings, errors. Each function appends to a caller-owned string, so a connection reuses one
// buffer and the fast path allocates nothing once warmed up.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/openai_request.h"

namespace modelgate::sim::detail {

// The fixed facts of one completion; token i (1-based) is the text "token<i> ".
struct Completion {
  Endpoint endpoint = Endpoint::chat;
  std::uint64_t id = 0;           // rendered "chatcmpl-<name>-<id>" / "cmpl-<name>-<id>"
  std::int64_t created = 0;       // unix seconds
  std::string_view model;
  std::string_view name;          // the sim's name: system_fingerprint and part of the id
  int prompt_tokens = 0;
  int completion_tokens = 0;
  std::string_view finish_reason; // "length" when max_tokens was reached, else "stop"
  int cached_tokens = -1;         // >= 0: usage.prompt_tokens_details.cached_tokens (engine mode)
};

void append_escaped(std::string& out, std::string_view s);  // JSON string contents, no quotes
void append_json_string(std::string& out, std::string_view s);

void append_completion(std::string& out, const Completion& c);  // non-streamed body
// Streamed events, each "data: {...}\n\n".
void append_token_event(std::string& out, const Completion& c, int index);
void append_finish_event(std::string& out, const Completion& c);
void append_usage_event(std::string& out, const Completion& c);
inline constexpr std::string_view kDoneEvent = "data: [DONE]\n\n";
// Events before the first token (the Responses API's; none for chat and completions), and the
// end of a stream ([DONE]; nothing for the Responses API).
void append_stream_start(std::string& out, const Completion& c);
void append_done_event(std::string& out, const Completion& c);

// The Responses API (responses_api.cpp); the functions above call these for Endpoint::responses.
void append_response(std::string& out, const Completion& c);
void append_response_start_events(std::string& out, const Completion& c);
void append_response_delta_event(std::string& out, const Completion& c, int index);
void append_response_end_events(std::string& out, const Completion& c);

void append_model_object(std::string& out, std::string_view id, std::int64_t created,
                         std::string_view owner);
void append_model_list(std::string& out, const std::vector<std::string>& models,
                       std::int64_t created, std::string_view owner);
inline constexpr int kEmbeddingDimensions = 8;
void append_embeddings(std::string& out, const EmbeddingRequest& request);
void append_error(std::string& out, const ApiError& error);

struct StatsView {
  std::uint64_t requests, completed, aborted;
  std::int64_t inflight, queued, max_inflight;
  std::uint64_t connections;
};
void append_stats(std::string& out, const StatsView& s);

// The OpenAI error type for a status a test forces (X-Sim-Status) or a fault.
std::string_view error_type(int status);

}  // namespace modelgate::sim::detail
