// POST /v1/audio/transcriptions and /v1/audio/translations, as vLLM, Xinference and whisper.cpp
// serve them: a multipart/form-data body with a `file` part and a `model` part, and optional
// `response_format` (json, text or verbose_json), `language`, `prompt`, `temperature`.
//
// The sim "hears" the file without decoding it: the text names the file's size and its hash
// (text::hash_bytes), so a test can tell that a proxy forwarded the upload byte for byte.
// Duplicate parts keep the last value, as python-multipart does behind Starlette.
#include <fmt/format.h>

#include "text/hash.h"
#include "http1/form_parts.h"
#include "sim/http_out.h"
#include "sim/openai_responses.h"
#include "sim/session.h"

namespace modelgate::sim::detail {

namespace {

struct AudioRequest {
  std::string_view model, file, response_format = "json", language;
  bool has_file = false;
};

std::optional<ApiError> parse_audio(std::string_view content_type, std::string_view body, AudioRequest& out) {
  const auto boundary = http1::form_boundary(content_type);
  if (boundary.empty()) {
    return ApiError{400, "The request must be multipart/form-data with a boundary (send the audio as a `file` part)."};
  }
  http1::FormParts parts(body, boundary);
  http1::FormPart part;
  while (parts.next(part)) {
    if (part.name == "model") out.model = part.content;
    if (part.name == "response_format") out.response_format = part.content;
    if (part.name == "language") out.language = part.content;
    if (part.name == "file") {
      out.file = part.content;
      out.has_file = true;
    }
  }
  if (!parts.problem().empty()) return ApiError{400, fmt::format("Malformed multipart body: {}.", parts.problem())};
  if (out.model.empty()) return ApiError{400, "You must provide a model parameter.", "invalid_request_error", {}, "model"};
  if (!out.has_file) return ApiError{400, "You must provide a file parameter.", "invalid_request_error", {}, "file"};
  const auto f = out.response_format;
  if (f != "json" && f != "text" && f != "verbose_json") {
    return ApiError{400, fmt::format("Unsupported response_format `{}`: the sim answers json, text or verbose_json.", f),
                    "invalid_request_error", {}, "response_format"};
  }
  return std::nullopt;
}

}  // namespace

boost::asio::awaitable<bool> Session::audio(Request& request, bool translate) {
  AudioRequest a;
  if (auto error = parse_audio(request[boost::beast::http::field::content_type], request.body(), a))
    co_return co_await send_error(*error);
  if (!core_.models.contains(a.model)) {
    co_return co_await send_error({404, fmt::format("The model `{}` does not exist.", a.model),
                                   "invalid_request_error", "model_not_found"});
  }
  event_ = fmt::format("{} {} bytes of audio (hash {:016x}) with {}", translate ? "translated" : "transcribed",
                       a.file.size(), text::hash_bytes(a.file), a.model);
  if (a.response_format == "text") {
    event_ += '\n';
    co_return co_await send(200, "text/plain; charset=utf-8", event_);
  }
  body_ = "{";
  if (a.response_format == "verbose_json") {
    body_ += fmt::format(R"("task":"{}","language":)", translate ? "translate" : "transcribe");
    append_json_string(body_, translate ? std::string_view("english") : a.language.empty() ? "english" : a.language);
    body_ += R"(,"duration":1.0,"segments":[],)";
  }
  body_ += R"("text":)";
  append_json_string(body_, event_);
  body_ += "}";
  co_return co_await send(200, kJson, body_);
}

}  // namespace modelgate::sim::detail
