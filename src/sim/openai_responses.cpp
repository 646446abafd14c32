#include "sim/openai_responses.h"

#include <cmath>
#include <iterator>

#include <fmt/format.h>

#include "text/json_escape.h"

namespace modelgate::sim::detail {

namespace {

template <typename... Args>
void append(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
}

// "id":"chatcmpl-NAME-7","object":"...","created":N,"model":"M","system_fingerprint":"NAME"
void append_header_fields(std::string& out, const Completion& c, std::string_view object) {
  out += c.endpoint == Endpoint::chat ? R"({"id":"chatcmpl-)" : R"({"id":"cmpl-)";
  append_escaped(out, c.name);
  append(out, R"(-{}","object":"{}","created":{},"model":)", c.id, object, c.created);
  append_json_string(out, c.model);
  out += R"(,"system_fingerprint":)";
  append_json_string(out, c.name);
}

// As vLLM reports it; prompt_tokens_details only where the engine model knows the cached part.
void append_usage(std::string& out, const Completion& c) {
  append(out, R"("usage":{{"prompt_tokens":{},"completion_tokens":{},"total_tokens":{})",
         c.prompt_tokens, c.completion_tokens, c.prompt_tokens + c.completion_tokens);
  if (c.cached_tokens >= 0)
    append(out, R"(,"prompt_tokens_details":{{"cached_tokens":{}}})", c.cached_tokens);
  out += '}';
}

std::string_view chunk_object(const Completion& c) {
  return c.endpoint == Endpoint::chat ? "chat.completion.chunk" : "text_completion";
}

}  // namespace

void append_escaped(std::string& out, std::string_view s) { text::append_json_escaped(out, s); }

void append_json_string(std::string& out, std::string_view s) { text::append_json_string(out, s); }

void append_completion(std::string& out, const Completion& c) {
  if (c.endpoint == Endpoint::responses) return append_response(out, c);
  bool chat = c.endpoint == Endpoint::chat;
  append_header_fields(out, c, chat ? "chat.completion" : "text_completion");
  out += chat ? R"(,"choices":[{"index":0,"message":{"role":"assistant","content":")"
              : R"(,"choices":[{"index":0,"text":")";
  for (int i = 1; i <= c.completion_tokens; ++i) append(out, "token{} ", i);
  out += chat ? R"("},"logprobs":null,"finish_reason":")" : R"(","logprobs":null,"finish_reason":")";
  out += c.finish_reason;
  out += R"("}],)";
  append_usage(out, c);
  out += '}';
}

void append_stream_start(std::string& out, const Completion& c) {
  if (c.endpoint == Endpoint::responses) append_response_start_events(out, c);
}

void append_done_event(std::string& out, const Completion& c) {
  if (c.endpoint != Endpoint::responses) out += kDoneEvent;
}

void append_token_event(std::string& out, const Completion& c, int index) {
  if (c.endpoint == Endpoint::responses) return append_response_delta_event(out, c, index);
  out += "data: ";
  append_header_fields(out, c, chunk_object(c));
  if (c.endpoint == Endpoint::chat) {
    // The first delta carries the role, as OpenAI's does.
    out += index == 1 ? R"(,"choices":[{"index":0,"delta":{"role":"assistant","content":")"
                      : R"(,"choices":[{"index":0,"delta":{"content":")";
    append(out, R"(token{} "}},"logprobs":null,"finish_reason":null}}]}})", index);
  } else {
    append(out, R"(,"choices":[{{"index":0,"text":"token{} ","logprobs":null,"finish_reason":null}}]}})",
           index);
  }
  out += "\n\n";
}

void append_finish_event(std::string& out, const Completion& c) {
  if (c.endpoint == Endpoint::responses) return append_response_end_events(out, c);
  out += "data: ";
  append_header_fields(out, c, chunk_object(c));
  out += c.endpoint == Endpoint::chat ? R"(,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":")"
                                      : R"(,"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":")";
  out += c.finish_reason;
  out += "\"}]}\n\n";
}

void append_usage_event(std::string& out, const Completion& c) {
  if (c.endpoint == Endpoint::responses) return;  // in response.completed
  out += "data: ";
  append_header_fields(out, c, chunk_object(c));
  out += R"(,"choices":[],)";
  append_usage(out, c);
  out += "}\n\n";
}

void append_model_object(std::string& out, std::string_view id, std::int64_t created,
                         std::string_view owner) {
  out += R"({"id":)";
  append_json_string(out, id);
  append(out, R"(,"object":"model","created":{},"owned_by":)", created);
  append_json_string(out, owner);
  out += '}';
}

void append_model_list(std::string& out, const std::vector<std::string>& models,
                       std::int64_t created, std::string_view owner) {
  out += R"({"object":"list","data":[)";
  for (std::size_t i = 0; i < models.size(); ++i) {
    if (i) out += ',';
    append_model_object(out, models[i], created, owner);
  }
  out += "]}";
}

void append_embeddings(std::string& out, const EmbeddingRequest& request) {
  out += R"({"object":"list","data":[)";
  for (std::size_t i = 0; i < request.inputs.size(); ++i) {
    if (i) out += ',';
    append(out, R"({{"object":"embedding","index":{},"embedding":[)", i);
    // A deterministic unit vector derived from the input (splitmix64 steps of its hash).
    double v[kEmbeddingDimensions];
    double norm = 0;
    std::uint64_t x = request.inputs[i].hash;
    for (double& d : v) {
      x += 0x9e3779b97f4a7c15ull;
      std::uint64_t z = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      z ^= z >> 31;
      d = static_cast<double>(z >> 11) / static_cast<double>(1ull << 53) * 2 - 1;
      norm += d * d;
    }
    norm = std::sqrt(norm);
    for (int k = 0; k < kEmbeddingDimensions; ++k)
      append(out, "{}{:.6f}", k ? "," : "", norm > 0 ? v[k] / norm : 0.0);
    out += "]}";
  }
  out += R"(],"model":)";
  append_json_string(out, request.model);
  append(out, R"(,"usage":{{"prompt_tokens":{},"total_tokens":{}}}}})", request.prompt_tokens,
         request.prompt_tokens);
}

void append_error(std::string& out, const ApiError& e) {
  out += R"({"error":{"message":)";
  append_json_string(out, e.message);
  out += R"(,"type":)";
  append_json_string(out, e.type);
  out += R"(,"param":)";
  if (e.param.empty()) {
    out += "null";
  } else {
    append_json_string(out, e.param);
  }
  out += R"(,"code":)";
  if (e.code.empty()) {
    out += "null";
  } else {
    append_json_string(out, e.code);
  }
  out += "}}";
}

void append_stats(std::string& out, const StatsView& s) {
  append(out,
         R"({{"requests":{},"completed":{},"aborted":{},"inflight":{},"queued":{},"max_inflight":{},)"
         R"("connections":{}}})",
         s.requests, s.completed, s.aborted, s.inflight, s.queued, s.max_inflight, s.connections);
}

std::string_view error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 429: return "rate_limit_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace modelgate::sim::detail
