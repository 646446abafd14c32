// Reading OpenAI request bodies: only the fields the sim acts on, validated enough to answer
// a malformed request with OpenAI's 400 instead of guessing. Uses a per-thread simdjson DOM
// parser (a whole-document parse validates everything, and reuses its buffers across requests).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::sim::detail {

enum class Endpoint { chat, completion, responses };  // /v1/chat/completions, /v1/completions, /v1/responses

// An error answered in OpenAI's shape: {"error":{"message","type","param","code"}}.
struct ApiError {
  ApiError() = default;
  ApiError(int status, std::string message, std::string_view type = "invalid_request_error",
           std::string_view code = {}, std::string_view param = {})
      : status(status), message(std::move(message)), type(type), code(code), param(param) {}

  int status = 400;
  std::string message;
  std::string_view type = "invalid_request_error";
  std::string_view code;   // empty: null
  std::string_view param;  // empty: null
};

struct GenerationRequest {
  std::string model;
  bool stream = false;
  bool include_usage = false;   // stream_options.include_usage
  int max_tokens = 0;           // completion length (the request's, else the default)
  bool max_tokens_given = false;
  int prompt_tokens = 0;        // words of the messages' contents / of the prompt
  // Engine mode: set before parsing to have `prompt` filled with the text the engine model
  // tokenizes — the messages through the chat template (tokenizer.h), or the completion prompt.
  bool render_prompt = false;
  std::string prompt;
};

struct EmbeddingInput {
  std::uint64_t hash = 0;  // of the text (or token ids): seeds the vector
  int tokens = 0;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<EmbeddingInput> inputs;
  int prompt_tokens = 0;
};

// POST /v1/rerank (vLLM, Jina and Xinference; Cohere's fields): documents are strings or {"text"}.
struct RerankRequest {
  std::string model, query;
  std::vector<std::string> documents;
  int top_n = 0;  // 0: all
  bool return_documents = true;
};

// POST /v1/audio/speech.
struct SpeechRequest {
  std::string model, input, voice, response_format = "mp3";
};

// POST /v1/images/generations.
struct ImageRequest {
  std::string model, prompt, response_format = "url";
  int n = 1;
};

inline constexpr int kMaxTokensCap = 1'000'000;

// Each fills `out` (reusing its capacity) or returns the 400 to answer.
std::optional<ApiError> parse_generation(const std::string& body, Endpoint endpoint,
                                         int default_max_tokens, GenerationRequest& out);
std::optional<ApiError> parse_embedding(const std::string& body, EmbeddingRequest& out);
std::optional<ApiError> parse_rerank(const std::string& body, RerankRequest& out);
std::optional<ApiError> parse_speech(const std::string& body, SpeechRequest& out);
std::optional<ApiError> parse_image(const std::string& body, ImageRequest& out);
// Admin: {"id": "NAME"}.
std::optional<ApiError> parse_model_id(const std::string& body, std::string& out);

// Words (maximal runs of non-space characters): the sim's deterministic token count.
int count_words(std::string_view text);

}  // namespace modelgate::sim::detail
