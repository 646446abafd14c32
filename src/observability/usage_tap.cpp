// Usage injection and extraction. Event boundaries follow the WHATWG Server-Sent Events parsing
// rules (https://html.spec.whatwg.org/multipage/server-sent-events.html#parsing-an-event-stream):
// lines end in CRLF, LF or CR, an empty line ends an event, "data" lines are joined with LF, one
// space after the colon is dropped, lines starting with ':' are comments.
#include "observability/usage_tap.h"

#include <simdjson.h>

#include <algorithm>
#include <utility>

#include "text/json_parser.h"

namespace modelgate::observability {

namespace od = simdjson::ondemand;

namespace {

constexpr std::size_t kKeepCapacity = 64 * 1024;

od::parser& thread_parser() { return text::thread_json_parser(); }

// Parses `buf` (padding is added to its capacity) as an ondemand document.
bool iterate(std::string& buf, od::document& doc) {
  buf.reserve(buf.size() + simdjson::SIMDJSON_PADDING);
  return !thread_parser().iterate(buf.data(), buf.size(), buf.capacity()).get(doc);
}

struct Usage {
  std::optional<std::uint64_t> prompt, completion, cached;
};

// Reads the counts of a "usage" object; false on malformed JSON. Chat and completions name them
// prompt_tokens / completion_tokens; the Responses API (and image generation) input_tokens /
// output_tokens, with input_tokens_details.cached_tokens. Rerank answers (vLLM, Jina) carry only
// total_tokens, all of them input: counted as prompt tokens when nothing else is given.
bool read_usage_object(od::object& u, Usage& usage) {
  std::optional<std::uint64_t> total;
  for (auto f : u) {
    od::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
    std::uint64_t n;
    if (key == "prompt_tokens" || key == "input_tokens") {
      if (!field.value().get_uint64().get(n)) usage.prompt = n;
    } else if (key == "completion_tokens" || key == "output_tokens") {
      if (!field.value().get_uint64().get(n)) usage.completion = n;
    } else if (key == "total_tokens") {
      if (!field.value().get_uint64().get(n)) total = n;
    } else if (key == "prompt_tokens_details" || key == "input_tokens_details") {
      // vLLM and SGLang: {"cached_tokens": N}; null when the server does not report reuse.
      od::object details;
      if (field.value().get_object().get(details)) continue;
      for (auto d : details) {
        od::field dfield;
        std::string_view dkey;
        if (std::move(d).get(dfield) || dfield.unescaped_key().get(dkey)) return false;
        if (dkey == "cached_tokens" && !dfield.value().get_uint64().get(n)) usage.cached = n;
      }
    }
  }
  if (!usage.prompt && !usage.completion && total) usage.prompt = total;
  return true;
}

// The usage inside a member object of `obj` named `outer` (the Responses API's "response", or
// Xinference rerank's "meta" whose "tokens" has input_tokens / output_tokens): true when found.
bool read_nested_usage(od::value v, std::string_view inner, Usage& usage, bool& malformed) {
  od::object o;
  if (v.get_object().get(o)) return false;
  for (auto f : o) {
    od::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) {
      malformed = true;
      return false;
    }
    if (key != inner) continue;
    od::object u;
    if (field.value().get_object().get(u)) continue;  // "usage": null while in progress
    usage = {};
    if (!read_usage_object(u, usage)) {
      malformed = true;
      return false;
    }
    return true;
  }
  return false;
}

// The Responses API's streamed events name their type ("response.output_text.delta", ...) in the
// SSE event field and in the data's "type". Returns it, or "" for any other event. The data's top
// level is the only object whose type starts with "response." (output items are "message",
// "output_text", ...; an escaped quote inside a string cannot produce `"type":"`).
std::string_view responses_event_type(std::string_view event_name, std::string_view data) {
  constexpr std::string_view kPrefix = "response.";
  if (event_name.starts_with(kPrefix)) return event_name;
  constexpr std::string_view kKey = R"("type":"response.)";
  const auto at = data.find(kKey);
  if (at == std::string_view::npos) return {};
  const auto from = at + kKey.size() - kPrefix.size();
  const auto end = data.find('"', from);
  return end == std::string_view::npos ? std::string_view{} : data.substr(from, end - from);
}

void skip_ws(std::string_view s, std::size_t& i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
}

// For a body too large to keep whole: finds `"usage": {...}` by text (the last occurrence, or the
// first with from_end false) and returns the object's text.
std::optional<std::string_view> find_usage_text(std::string_view text, bool from_end) {
  constexpr std::string_view kKey = "\"usage\"";
  std::size_t pos = from_end ? text.rfind(kKey) : text.find(kKey);
  while (pos != std::string_view::npos) {
    if (pos == 0 || text[pos - 1] != '\\') {  // not an escaped quote inside a string
      std::size_t i = pos + kKey.size();
      skip_ws(text, i);
      if (i < text.size() && text[i] == ':') {
        ++i;
        skip_ws(text, i);
        if (i < text.size() && text[i] == '{') {
          int depth = 0;
          bool in_string = false;
          for (std::size_t k = i; k < text.size(); ++k) {
            const char c = text[k];
            if (in_string) {
              if (c == '\\') ++k;
              else if (c == '"') in_string = false;
            } else if (c == '"') {
              in_string = true;
            } else if (c == '{') {
              ++depth;
            } else if (c == '}' && --depth == 0) {
              return text.substr(i, k + 1 - i);
            }
          }
        }
      }
    }
    if (from_end) pos = pos == 0 ? std::string_view::npos : text.rfind(kKey, pos - 1);
    else pos = text.find(kKey, pos + 1);
  }
  return std::nullopt;
}

// Most requests are not streams: a scan for `"stream"` followed by `: true` skips the parse. Only
// a body with such a key-value pair somewhere, or with a \u escape (a key could be written
// "stre\u0061m"), can have "stream": true at its top level.
bool may_ask_for_stream(std::string_view text) {
  if (text.find("\\u") != std::string_view::npos) return true;
  constexpr std::string_view kKey = "\"stream\"";
  for (auto at = text.find(kKey); at != std::string_view::npos; at = text.find(kKey, at + 1)) {
    const auto rest = text.substr(at + kKey.size());
    std::size_t i = 0;
    skip_ws(rest, i);
    if (i >= rest.size() || rest[i] != ':') continue;
    skip_ws(rest, ++i);
    if (rest.substr(i).starts_with("true")) return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

bool inject_include_usage(std::string& body) {
  if (!may_ask_for_stream(body)) return false;
  const std::size_t size = body.size();
  od::document doc;
  if (!iterate(body, doc)) return false;
  od::object obj;
  if (doc.get_object().get(obj)) return false;

  bool stream = false;
  enum class Options { absent, null, object, other } options = Options::absent;
  enum class Include { absent, yes, replace, other } include = Include::absent;
  std::size_t options_at = 0;     // offset of stream_options' value ('{' or "null")
  bool options_empty = true;
  std::size_t include_at = 0, include_len = 0;  // the false/null token of include_usage

  for (auto f : obj) {
    od::field field;
    std::string_view key;
    od::json_type type;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
    od::value v = field.value();
    if (v.type().get(type)) return false;
    if (key == "stream") {
      bool b = false;
      stream = type == od::json_type::boolean && !v.get_bool().get(b) && b;
    } else if (key == "input") {
      // The Responses API (its request has "input" where chat has "messages" and completions
      // "prompt"): usage always comes in response.completed, and stream_options is not its own.
      return false;
    } else if (key == "stream_options") {
      include = Include::absent;
      options_empty = true;
      options_at = static_cast<std::size_t>(v.raw_json_token().data() - body.data());
      if (type == od::json_type::null) {
        options = Options::null;
      } else if (type != od::json_type::object) {
        options = Options::other;
      } else {
        options = Options::object;
        od::object o;
        if (v.get_object().get(o)) return false;
        for (auto of : o) {
          od::field ofield;
          std::string_view okey;
          od::json_type otype;
          if (std::move(of).get(ofield) || ofield.unescaped_key().get(okey)) return false;
          options_empty = false;
          if (okey != "include_usage") continue;
          od::value ov = ofield.value();
          if (ov.type().get(otype)) return false;
          include_at = static_cast<std::size_t>(ov.raw_json_token().data() - body.data());
          bool b = false;
          if (otype == od::json_type::boolean && !ov.get_bool().get(b)) {
            include = b ? Include::yes : Include::replace;
            include_len = b ? 4 : 5;
          } else if (otype == od::json_type::null) {
            include = Include::replace;
            include_len = 4;
          } else {
            include = Include::other;
          }
        }
      }
    }
  }
  // Exactly one JSON value: nothing may follow the object.
  const char* rest = nullptr;
  if (doc.current_location().get(rest) != simdjson::OUT_OF_BOUNDS) return false;
  if (!stream) return false;

  switch (options) {
    case Options::absent: {
      std::size_t close = size;
      while (close > 0 && body[close - 1] != '}') --close;
      if (close == 0) return false;
      body.insert(close - 1, R"(,"stream_options":{"include_usage":true})");
      return true;
    }
    case Options::null:
      body.replace(options_at, 4, R"({"include_usage":true})");
      return true;
    case Options::other:
      return false;
    case Options::object:
      break;
  }
  switch (include) {
    case Include::absent:
      body.insert(options_at + 1, options_empty ? R"("include_usage":true)" : R"("include_usage":true,)");
      return true;
    case Include::replace:
      body.replace(include_at, include_len, "true");
      return true;
    case Include::yes:
    case Include::other:
      return false;
  }
  return false;
}

// ---------------------------------------------------------------------------------------------

void UsageTap::reset(Body body, bool strip_usage_chunk, Limits limits) {
  body_ = body;
  strip_ = strip_usage_chunk;
  limits_ = limits;
  scan_ = Scan::bol;
  overflow_ = last_stripped_ = stripped_ = json_over_ = finished_ = false;
  for (std::string* s : {&partial_, &scratch_, &json_, &tail_}) {
    if (s->capacity() > kKeepCapacity) std::string().swap(*s);
    else s->clear();
  }
  prompt_tokens_.reset();
  completion_tokens_.reset();
  cached_tokens_.reset();
  first_data_at_.reset();
}

void UsageTap::process(std::string_view piece, std::string* out, Clock::time_point now) {
  if (finished_) return;
  if (body_ == Body::sse) {
    process_sse(piece, out, now);
  } else {
    if (out) out->append(piece);
    process_json(piece);
  }
}

void UsageTap::finish() {
  std::string none;
  finish(none);
}

void UsageTap::finish(std::string& out) {
  if (finished_) return;
  finished_ = true;
  if (body_ == Body::json) {
    parse_json_body();
    return;
  }
  // An event the stream ended without terminating: counted, forwarded as it came, never removed.
  if (!overflow_ && !partial_.empty()) {
    on_event(partial_, Clock::now());
    if (strip_) out.append(partial_);
  }
  partial_.clear();
}

// ---- SSE

void UsageTap::process_sse(std::string_view piece, std::string* out, Clock::time_point now) {
  if (out && !strip_) out->append(piece);
  std::string* const sout = strip_ ? out : nullptr;  // where kept bytes go, when stripping
  const char* const p = piece.data();
  const std::size_t n = piece.size();
  std::size_t emit_from = 0;  // bytes of the piece before this are dealt with
  std::size_t ev_begin = 0;   // the current event starts here (its earlier bytes are in partial_)

  // The event ends with byte i.
  auto end_event = [&](std::size_t i) {
    if (overflow_) {  // forwarded as it came; its remaining bytes stay pending
      overflow_ = false;
      last_stripped_ = false;
      ev_begin = i + 1;
      return;
    }
    std::string_view event(p + ev_begin, i + 1 - ev_begin);
    const bool held = !partial_.empty();
    if (held) {
      partial_.append(event);
      event = partial_;
    }
    const bool drop = on_event(event, now) && sout;
    if (drop) {
      stripped_ = true;
      sout->append(p + emit_from, ev_begin - emit_from);
      emit_from = i + 1;
    } else if (held && sout) {
      sout->append(partial_);  // a held event is the first of the piece: nothing precedes it
      emit_from = i + 1;
    }
    partial_.clear();
    last_stripped_ = drop;
    ev_begin = i + 1;
  };

  for (std::size_t i = 0; i < n; ++i) {
    const char c = p[i];
    switch (scan_) {
      case Scan::line:
        if (c == '\n') scan_ = Scan::bol;
        else if (c == '\r') scan_ = Scan::bol_cr;
        break;
      case Scan::bol_cr:  // a line ended in CR: an LF now belongs to that line break
        if (c == '\n') {
          scan_ = Scan::bol;
        } else if (c == '\r') {
          end_event(i);
          scan_ = Scan::after_event_cr;
        } else {
          scan_ = Scan::line;
        }
        break;
      case Scan::after_event_cr:  // an event ended in CR: an LF now belongs to that event
        if (c == '\n') {
          if (sout && last_stripped_) emit_from = i + 1;
          ev_begin = i + 1;
          scan_ = Scan::bol;
          break;
        }
        [[fallthrough]];
      case Scan::bol:
        if (c == '\n') {
          end_event(i);
          scan_ = Scan::bol;
        } else if (c == '\r') {
          end_event(i);
          scan_ = Scan::after_event_cr;
        } else {
          scan_ = Scan::line;
        }
        break;
    }
  }

  if (overflow_) {
    if (sout) sout->append(p + emit_from, n - emit_from);
    return;
  }
  if (sout) sout->append(p + emit_from, ev_begin - emit_from);
  partial_.append(p + ev_begin, n - ev_begin);
  if (partial_.size() > limits_.max_event_bytes) {
    overflow_ = true;
    if (sout) sout->append(partial_);
    partial_.clear();
  }
}

bool UsageTap::on_event(std::string_view event, Clock::time_point now) {
  std::string_view data, name;
  bool has_data = false;
  bool joined = false;  // several data lines, joined in scratch_
  for (std::size_t i = 0; i < event.size();) {
    std::size_t j = i;
    while (j < event.size() && event[j] != '\n' && event[j] != '\r') ++j;
    const std::string_view line = event.substr(i, j - i);
    i = j + (j + 1 < event.size() && event[j] == '\r' && event[j + 1] == '\n' ? 2 : 1);
    if (line.empty() || line.front() == ':') continue;
    const auto colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    if (field != "data" && field != "event") continue;
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") {
      name = value;
      continue;
    }
    if (!has_data) {
      data = value;
      has_data = true;
    } else {
      if (!joined) scratch_.assign(data);
      joined = true;
      scratch_ += '\n';
      scratch_ += value;
    }
  }
  if (!has_data) return false;
  if (joined) data = scratch_;
  if (data == "[DONE]") return false;
  if (const auto type = responses_event_type(name, data); !type.empty()) {
    // Responses API: response.created and the item/part events come before any token; the
    // first *.delta (output text, reasoning, refusal, function arguments) is the first token.
    // The usage is in the final response (response.completed, .incomplete or .failed), always:
    // there is nothing to ask for and nothing to strip.
    if (!first_data_at_ && type.ends_with(".delta")) first_data_at_ = now;
    if (type == "response.completed" || type == "response.incomplete" || type == "response.failed") {
      scratch_.assign(data);
      bool choices_empty = false;
      read_usage(choices_empty);
    }
    return false;
  }
  if (!first_data_at_) first_data_at_ = now;
  if (data.find("\"usage\"") == std::string_view::npos) return false;
  if (!joined) scratch_.assign(data);
  bool choices_empty = false;
  return read_usage(choices_empty) && choices_empty;
}

// Reads "usage" and whether "choices" is an empty array from one chunk in scratch_; true when
// the chunk has a usage object.
bool UsageTap::read_usage(bool& choices_empty) {
  od::document doc;
  od::object obj;
  if (!iterate(scratch_, doc) || doc.get_object().get(obj)) return false;
  bool has_usage = false;
  Usage usage;
  choices_empty = false;
  for (auto f : obj) {
    od::field field;
    std::string_view key;
    od::json_type type;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
    od::value v = field.value();
    if (v.type().get(type)) return false;
    if (key == "usage") {
      has_usage = false;
      if (type != od::json_type::object) continue;  // "usage": null on ordinary chunks
      od::object u;
      usage = {};
      if (v.get_object().get(u) || !read_usage_object(u, usage)) return false;
      has_usage = true;
    } else if (key == "response" && type == od::json_type::object) {  // Responses API events
      bool malformed = false;
      has_usage = read_nested_usage(v, "usage", usage, malformed);
      if (malformed) return false;
    } else if (key == "choices") {
      od::array a;
      bool empty = false;
      choices_empty = type == od::json_type::array && !v.get_array().get(a) && !a.is_empty().get(empty) && empty;
    }
  }
  if (!has_usage) return false;
  // Servers that report usage on every chunk (vLLM's continuous_usage_stats) send running totals:
  // the last one wins.
  if (usage.prompt) prompt_tokens_ = usage.prompt;
  if (usage.completion) completion_tokens_ = usage.completion;
  if (usage.cached) cached_tokens_ = usage.cached;
  return true;
}

// ---- JSON

void UsageTap::process_json(std::string_view piece) {
  const std::size_t window = std::min<std::size_t>(64 * 1024, limits_.max_json_bytes);
  if (!json_over_) {
    if (json_.size() + piece.size() <= limits_.max_json_bytes) {
      json_.append(piece);
      return;
    }
    // Too large to keep whole: keep the first and the last `window` bytes.
    json_over_ = true;
    if (piece.size() >= window) {
      tail_.assign(piece.substr(piece.size() - window));
    } else {
      const std::size_t from_head = std::min(json_.size(), window - piece.size());
      tail_.assign(json_, json_.size() - from_head, from_head);
      tail_.append(piece);
    }
    if (json_.size() > window) json_.resize(window);
    return;
  }
  tail_.append(piece);
  if (tail_.size() > 2 * window) tail_.erase(0, tail_.size() - window);
}

void UsageTap::parse_json_body() {
  Usage usage;
  if (!json_over_) {
    od::document doc;
    od::object obj;
    if (!iterate(json_, doc) || doc.get_object().get(obj)) return;
    for (auto f : obj) {
      od::field field;
      std::string_view key;
      od::json_type type;
      if (std::move(f).get(field) || field.unescaped_key().get(key)) return;
      if (key == "meta" && !usage.prompt) {  // Xinference rerank: "meta": {"tokens": {...}}
        bool malformed = false;
        read_nested_usage(field.value(), "tokens", usage, malformed);
        if (malformed) return;
        continue;
      }
      if (key != "usage") continue;
      od::value v = field.value();
      od::object u;
      if (v.type().get(type) || type != od::json_type::object) continue;
      usage = {};
      if (v.get_object().get(u) || !read_usage_object(u, usage)) return;
    }
  } else {
    auto text = find_usage_text(tail_, true);
    if (!text) text = find_usage_text(json_, false);
    if (!text) return;
    scratch_.assign(*text);
    od::document doc;
    od::object u;
    if (!iterate(scratch_, doc) || doc.get_object().get(u) || !read_usage_object(u, usage)) return;
  }
  prompt_tokens_ = usage.prompt;
  completion_tokens_ = usage.completion;
  cached_tokens_ = usage.cached;
}

}  // namespace modelgate::observability
