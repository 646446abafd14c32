// The model endpoints beyond text generation, in their common shapes, so that a proxy's routing,
// logging and error answers can be tested on each:
// - POST /v1/rerank (also /rerank and /v2/rerank, as vLLM serves it): vLLM's and Jina's answer,
//   {"id","model","usage":{"total_tokens"},"results":[{"index","document":{"text"},"relevance_score"}]},
//   best first. A document's score is the share of the query's words it contains (deterministic).
//   total_tokens counts the words of the query once per document plus those of the documents.
// - POST /v1/audio/speech: binary audio of silence, 0.1 s per word of the input (at most 100
//   words): wav (RIFF, 16-bit mono 24 kHz), pcm (the same samples, raw) or mp3 (silent MPEG-1
//   Layer III frames, 128 kbit/s, 44.1 kHz, 417 bytes each).
// - POST /v1/images/generations: {"created","data":[{"url"} or {"b64_json"}],"usage"}: a 1×1 PNG,
//   as a data: URL or base64; usage as gpt-image-1 reports it (input_tokens: the prompt's words,
//   output_tokens: one per image).
#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "sim/http_out.h"
#include "sim/session.h"

namespace modelgate::sim::detail {

namespace {

constexpr std::string_view kPixelPng =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

std::vector<std::string_view> words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    std::size_t j = i;
    while (j < text.size() && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

double relevance(const std::set<std::string_view>& query, std::string_view document) {
  if (query.empty()) return 0;
  std::set<std::string_view> found;
  for (auto w : words(document)) {
    if (query.contains(w)) found.insert(w);
  }
  return static_cast<double>(found.size()) / static_cast<double>(query.size());
}

void append_u16(std::string& out, unsigned v) {
  out += static_cast<char>(v & 0xff);
  out += static_cast<char>((v >> 8) & 0xff);
}

void append_u32(std::string& out, std::uint32_t v) {
  append_u16(out, v & 0xffff);
  append_u16(out, v >> 16);
}

// Silence for `words` words: the bytes and their media type.
std::string_view speak(std::string& out, std::string_view format, int word_count) {
  const int n = std::clamp(word_count, 1, 100);
  if (format == "mp3") {
    constexpr std::size_t kFrame = 417;  // 144 * 128000 / 44100, no padding
    const int frames = n * 4;            // 26 ms each: about 0.1 s per word
    for (int f = 0; f < frames; ++f) {
      out += "\xFF\xFB\x90\x64";
      out.append(kFrame - 4, '\0');
    }
    return "audio/mpeg";
  }
  const std::uint32_t samples = static_cast<std::uint32_t>(n) * 2400;  // 0.1 s at 24 kHz
  if (format == "wav") {
    out += "RIFF";
    append_u32(out, 36 + samples * 2);
    out += "WAVEfmt ";
    append_u32(out, 16);
    append_u16(out, 1);      // PCM
    append_u16(out, 1);      // mono
    append_u32(out, 24000);  // sample rate
    append_u32(out, 48000);  // byte rate
    append_u16(out, 2);      // block align
    append_u16(out, 16);     // bits per sample
    out += "data";
    append_u32(out, samples * 2);
  }
  out.append(samples * 2, '\0');
  return format == "wav" ? "audio/wav" : "audio/pcm";
}

}  // namespace

boost::asio::awaitable<bool> Session::model_endpoint(Request& request, std::string_view path) {
  const std::string& body = request.body();
  auto unknown_model = [](std::string_view model) {
    return ApiError{404, fmt::format("The model `{}` does not exist.", model), "invalid_request_error",
                    "model_not_found"};
  };
  body_.clear();
  if (path == "/v1/audio/speech") {
    SpeechRequest r;
    if (auto error = parse_speech(body, r)) co_return co_await send_error(*error);
    if (!core_.models.contains(r.model)) co_return co_await send_error(unknown_model(r.model));
    const auto type = speak(body_, r.response_format, static_cast<int>(words(r.input).size()));
    co_return co_await send(200, type, body_);
  }
  if (path == "/v1/images/generations") {
    ImageRequest r;
    if (auto error = parse_image(body, r)) co_return co_await send_error(*error);
    if (!core_.models.contains(r.model)) co_return co_await send_error(unknown_model(r.model));
    const auto prompt_words = words(r.prompt).size();
    body_ = fmt::format(R"({{"created":{},"data":[)", core_.created_unix);
    for (int i = 0; i < r.n; ++i) {
      body_ += i ? "," : "";
      body_ += r.response_format == "b64_json"
                   ? fmt::format(R"({{"b64_json":"{}"}})", kPixelPng)
                   : fmt::format(R"({{"url":"data:image/png;base64,{}"}})", kPixelPng);
    }
    body_ += fmt::format(R"(],"usage":{{"input_tokens":{},"output_tokens":{},"total_tokens":{}}}}})",
                         prompt_words, r.n, prompt_words + r.n);
    co_return co_await send(200, kJson, body_);
  }
  // Rerank.
  RerankRequest r;
  if (auto error = parse_rerank(body, r)) co_return co_await send_error(*error);
  if (!core_.models.contains(r.model)) co_return co_await send_error(unknown_model(r.model));
  const auto query_words = words(r.query);
  const std::set<std::string_view> query(query_words.begin(), query_words.end());
  std::vector<std::size_t> order(r.documents.size());
  std::vector<double> score(r.documents.size());
  std::size_t tokens = 0;
  for (std::size_t i = 0; i < r.documents.size(); ++i) {
    score[i] = relevance(query, r.documents[i]);
    tokens += query_words.size() + words(r.documents[i]).size();
  }
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return score[a] > score[b]; });
  if (r.top_n > 0 && static_cast<std::size_t>(r.top_n) < order.size()) order.resize(r.top_n);
  body_ = fmt::format(R"({{"id":"rerank-{}-{}","model":)", core_.options.name,
                      core_.next_id.fetch_add(1, std::memory_order_relaxed));
  append_json_string(body_, r.model);
  body_ += fmt::format(R"(,"usage":{{"total_tokens":{}}},"results":[)", tokens);
  for (std::size_t k = 0; k < order.size(); ++k) {
    const std::size_t i = order[k];
    body_ += fmt::format(R"({}{{"index":{},)", k ? "," : "", i);
    if (r.return_documents) {
      body_ += R"("document":{"text":)";
      append_json_string(body_, r.documents[i]);
      body_ += "},";
    }
    body_ += fmt::format(R"("relevance_score":{:.6f}}})", score[i]);
  }
  body_ += "]}";
  co_return co_await send(200, kJson, body_);
}

}  // namespace modelgate::sim::detail
