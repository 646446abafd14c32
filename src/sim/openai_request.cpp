#include "sim/openai_request.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <algorithm>

#include "sim/tokenizer.h"

namespace modelgate::sim::detail {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::object;

simdjson::dom::parser& json_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

ApiError invalid(std::string message, std::string_view param = {}) {
  ApiError e;
  e.message = std::move(message);
  e.param = param;
  return e;
}

ApiError bad_json() {
  ApiError e = invalid(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
      "using your HTTP library correctly. The OpenAI API expects a JSON payload.)");
  e.code = "invalid_json";
  return e;
}

std::optional<ApiError> parse_object(const std::string& body, object& out) {
  element doc;
  if (json_parser().parse(body).get(doc)) return bad_json();
  if (doc.get(out)) return invalid("The request body must be a JSON object.");
  return std::nullopt;
}

constexpr std::uint64_t kFnvOffset = 1469598103934665603ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnv(std::uint64_t h, std::string_view s) {
  for (unsigned char c : s) h = (h ^ c) * kFnvPrime;
  return h;
}

// A prompt or an embedding input: a string, an array of token ids, or (for a batch) an array of
// either. Calls `each(hash, tokens)` once per entry; false on a shape OpenAI rejects.
template <typename F>
bool for_each_input(element value, F&& each) {
  std::string_view text;
  if (!value.get(text)) {
    each(fnv(kFnvOffset, text), count_words(text));
    return true;
  }
  array items;
  if (value.get(items)) return false;
  auto token_ids = [](array ids, std::uint64_t& h, int& n) {
    for (element id : ids) {
      std::int64_t v;
      if (id.get(v)) return false;
      h = (h ^ static_cast<std::uint64_t>(v)) * kFnvPrime;
      ++n;
    }
    return true;
  };
  element first;
  if (!items.at(0).get(first) && first.is_int64()) {  // one prompt as token ids
    std::uint64_t h = kFnvOffset;
    int n = 0;
    if (!token_ids(items, h, n)) return false;
    each(h, n);
    return true;
  }
  for (element item : items) {
    array ids;
    if (!item.get(text)) {
      each(fnv(kFnvOffset, text), count_words(text));
    } else if (!item.get(ids)) {
      std::uint64_t h = kFnvOffset;
      int n = 0;
      if (!token_ids(ids, h, n)) return false;
      each(h, n);
    } else {
      return false;
    }
  }
  return true;
}

// messages: [{"role":..,"content": string | [{"type":"text","text":..}, ...] | null}, ...]
// Counts the contents' words; with `rendered`, also renders them through the chat template.
std::optional<ApiError> count_messages(element value, int& words, std::string* rendered) {
  array messages;
  if (value.get(messages)) return invalid("'messages' must be an array.", "messages");
  for (element m : messages) {
    object message;
    if (m.get(message)) return invalid("Each message must be an object.", "messages");
    std::string_view text;
    if (rendered) {
      std::string_view role;
      rendered->append(kTurnStart).append(message["role"].get(role) ? "user" : role) += '\n';
    }
    element content;
    if (!message["content"].get(content) && !content.is_null()) {
      array parts;
      if (!content.get(text)) {
        words += count_words(text);
        if (rendered) rendered->append(text);
      } else if (!content.get(parts)) {
        for (element part : parts) {
          if (part["text"].get(text)) continue;
          words += count_words(text);
          if (rendered) rendered->append(text);
        }
      } else {
        return invalid("A message's 'content' must be a string or an array.", "messages");
      }
    }
    if (rendered) rendered->append(kTurnEnd);
  }
  if (rendered) rendered->append(kTurnStart).append("assistant\n");
  return std::nullopt;
}

// The text of a completion prompt for the engine model: strings as they are (a batch joined),
// token ids written out in decimal (an approximation: their count is not kept).
void render_completion_prompt(element value, std::string& out) {
  std::string_view text;
  std::int64_t id;
  array items;
  if (!value.get(text)) {
    out.append(text);
  } else if (!value.get(items)) {
    for (element item : items) {
      if (!item.get(text)) {
        out.append(text);
      } else if (!item.get(id)) {
        out.append(std::to_string(id)) += ' ';
      } else {
        render_completion_prompt(item, out);
      }
    }
  }
}

}  // namespace

int count_words(std::string_view text) {
  int words = 0;
  bool in_word = false;
  for (unsigned char c : text) {
    bool space = c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

std::optional<ApiError> parse_generation(const std::string& body, Endpoint endpoint,
                                         int default_max_tokens, GenerationRequest& out) {
  object request;
  if (auto e = parse_object(body, request)) return e;
  out.model.clear();
  out.stream = false;
  out.include_usage = false;
  out.max_tokens = default_max_tokens;
  out.max_tokens_given = false;
  out.prompt_tokens = 0;
  out.prompt.clear();
  bool have_model = false;
  bool have_input = false;
  for (auto [key, value] : request) {
    if (key == "model") {
      std::string_view model;
      if (value.get(model)) return invalid("'model' must be a string.", "model");
      out.model.assign(model);
      have_model = true;
    } else if (key == "stream") {
      if (!value.is_null() && value.get(out.stream))
        return invalid("'stream' must be a boolean.", "stream");
    } else if (key == "stream_options" && endpoint == Endpoint::responses) {
      // The Responses API always reports usage (in response.completed): a proxy that adds
      // include_usage here would be rejected, as OpenAI rejects unknown parameters.
      object options;
      element usage;
      if (!value.get(options) && !options["include_usage"].get(usage))
        return invalid("Unknown parameter: 'stream_options.include_usage'.", "stream_options.include_usage");
    } else if (key == "stream_options") {
      object options;
      if (value.is_null()) continue;
      if (value.get(options)) return invalid("'stream_options' must be an object.", "stream_options");
      element usage;
      if (!options["include_usage"].get(usage) && !usage.is_null() && usage.get(out.include_usage))
        return invalid("'stream_options.include_usage' must be a boolean.", "stream_options");
    } else if (key == "max_output_tokens" && endpoint == Endpoint::responses) {
      if (value.is_null()) continue;
      std::int64_t n;
      if (value.get(n) || n < 1)
        return invalid("'max_output_tokens' must be a positive integer.", "max_output_tokens");
      out.max_tokens = static_cast<int>(std::min<std::int64_t>(n, kMaxTokensCap));
      out.max_tokens_given = true;
    } else if (key == "input" && endpoint == Endpoint::responses) {
      // A string, or input items: messages whose content is a string or input_text parts.
      std::string_view text;
      if (!value.get(text)) {
        out.prompt_tokens += count_words(text);
        if (out.render_prompt) out.prompt.append(kTurnStart).append("user\n").append(text).append(kTurnEnd);
      } else if (auto e =
                     count_messages(value, out.prompt_tokens, out.render_prompt ? &out.prompt : nullptr)) {
        return invalid("'input' must be a string or an array of input items.", "input");
      }
      have_input = true;
    } else if (key == "instructions" && endpoint == Endpoint::responses) {
      std::string_view text;
      if (!value.is_null() && value.get(text))
        return invalid("'instructions' must be a string.", "instructions");
      if (!value.is_null()) out.prompt_tokens += count_words(text);
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      if (value.is_null()) continue;
      std::int64_t n;
      if (value.get(n) || n < 0)
        return invalid(std::string("'") + std::string(key) + "' must be a non-negative integer.",
                       key == "max_tokens" ? "max_tokens" : "max_completion_tokens");
      out.max_tokens = static_cast<int>(std::min<std::int64_t>(n, kMaxTokensCap));
      out.max_tokens_given = true;
    } else if (key == "messages" && endpoint == Endpoint::chat) {
      if (auto e = count_messages(value, out.prompt_tokens, out.render_prompt ? &out.prompt : nullptr))
        return e;
      have_input = true;
    } else if (key == "prompt" && endpoint == Endpoint::completion) {
      int words = 0;
      if (!for_each_input(value, [&](std::uint64_t, int n) { words += n; }))
        return invalid("'prompt' must be a string, an array of strings or of token ids.", "prompt");
      if (out.render_prompt) render_completion_prompt(value, out.prompt);
      out.prompt_tokens = words;
      have_input = true;
    }
  }
  if (!have_model) return invalid("You must provide a model parameter.", "model");
  if (!have_input) {
    switch (endpoint) {
      case Endpoint::chat:
        return invalid("'messages' is a required property.", "messages");
      case Endpoint::completion:
        return invalid("'prompt' is a required property.", "prompt");
      case Endpoint::responses:
        return invalid("'input' is a required property.", "input");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> parse_embedding(const std::string& body, EmbeddingRequest& out) {
  object request;
  if (auto e = parse_object(body, request)) return e;
  out.model.clear();
  out.inputs.clear();
  out.prompt_tokens = 0;
  std::string_view model;
  if (request["model"].get(model)) return invalid("You must provide a model parameter.", "model");
  out.model.assign(model);
  element input;
  if (request["input"].get(input)) return invalid("'input' is a required property.", "input");
  bool ok = for_each_input(input, [&](std::uint64_t h, int n) {
    out.inputs.push_back({h, n});
    out.prompt_tokens += n;
  });
  if (!ok || out.inputs.empty())
    return invalid("'input' must be a string, an array of strings or of token ids.", "input");
  return std::nullopt;
}

namespace {

std::optional<ApiError> required_string(object request, std::string_view key, std::string& out) {
  std::string_view v;
  if (request[key].get(v) || v.empty()) {
    return key == "model" ? invalid("You must provide a model parameter.", "model")
                          : invalid(std::string("'") + std::string(key) + "' is a required string.", key);
  }
  out.assign(v);
  return std::nullopt;
}

// An optional string member: absent or null leaves `out` as it is.
std::optional<ApiError> optional_string(object request, std::string_view key, std::string& out) {
  element e;
  std::string_view v;
  if (request[key].get(e) || e.is_null()) return std::nullopt;
  if (e.get(v)) return invalid(std::string("'") + std::string(key) + "' must be a string.", key);
  out.assign(v);
  return std::nullopt;
}

std::optional<ApiError> optional_int(object request, std::string_view key, int min, int max, int& out) {
  element e;
  std::int64_t n;
  if (request[key].get(e) || e.is_null()) return std::nullopt;
  if (e.get(n) || n < min || n > max)
    return invalid(fmt::format("'{}' must be an integer from {} to {}.", key, min, max), key);
  out = static_cast<int>(n);
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> parse_rerank(const std::string& body, RerankRequest& out) {
  object request;
  if (auto e = parse_object(body, request)) return e;
  out = {};
  if (auto e = required_string(request, "model", out.model)) return e;
  if (auto e = required_string(request, "query", out.query)) return e;
  array documents;
  if (request["documents"].get(documents) || documents.size() == 0)
    return invalid("'documents' must be a non-empty array of strings or {\"text\": ...} objects.",
                   "documents");
  for (element d : documents) {
    std::string_view text;
    if (d.get(text) && d["text"].get(text))
      return invalid("Each document must be a string or an object with a \"text\" string.", "documents");
    out.documents.emplace_back(text);
  }
  if (auto e = optional_int(request, "top_n", 0, 1'000'000, out.top_n)) return e;
  bool b = true;
  if (!request["return_documents"].get(b)) out.return_documents = b;
  return std::nullopt;
}

std::optional<ApiError> parse_speech(const std::string& body, SpeechRequest& out) {
  object request;
  if (auto e = parse_object(body, request)) return e;
  out = {};
  if (auto e = required_string(request, "model", out.model)) return e;
  if (auto e = required_string(request, "input", out.input)) return e;
  if (auto e = optional_string(request, "voice", out.voice)) return e;
  if (auto e = optional_string(request, "response_format", out.response_format)) return e;
  const auto& f = out.response_format;
  if (f != "mp3" && f != "wav" && f != "pcm")
    return invalid(fmt::format("Unsupported response_format `{}`: the sim speaks mp3, wav or pcm.", f),
                   "response_format");
  return std::nullopt;
}

std::optional<ApiError> parse_image(const std::string& body, ImageRequest& out) {
  object request;
  if (auto e = parse_object(body, request)) return e;
  out = {};
  if (auto e = required_string(request, "model", out.model)) return e;
  if (auto e = required_string(request, "prompt", out.prompt)) return e;
  if (auto e = optional_int(request, "n", 1, 10, out.n)) return e;
  if (auto e = optional_string(request, "response_format", out.response_format)) return e;
  if (out.response_format != "url" && out.response_format != "b64_json")
    return invalid("'response_format' must be \"url\" or \"b64_json\".", "response_format");
  return std::nullopt;
}

std::optional<ApiError> parse_model_id(const std::string& body, std::string& out) {
  object request;
  if (auto e = parse_object(body, request)) return e;
  std::string_view id;
  if (request["id"].get(id) || id.empty()) return invalid("'id' must be a non-empty string.", "id");
  out.assign(id);
  return std::nullopt;
}

}  // namespace modelgate::sim::detail
