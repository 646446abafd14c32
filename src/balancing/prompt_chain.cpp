#include "balancing/prompt_chain.h"

#include <simdjson.h>

#include <cstring>

#include "balancing/hash_key.h"

namespace modelgate::balancing {

namespace od = simdjson::ondemand;

namespace {

// Scratch kept for prompts up to this size; a larger one is rendered, then its memory returned.
constexpr std::size_t kRetainBytes = std::size_t{1} << 20;

// Separators that JSON text cannot confuse with content: a role can never run into its content.
constexpr char kFieldSep = '\x1f';
constexpr char kItemSep = '\x1e';

struct Scratch {
  od::parser parser;
  std::string padded;   // the body with SIMDJSON_PADDING spare bytes
  std::string text;     // the canonical prompt
  std::string content;  // one message's content while its other fields are read
  std::string seed;     // model name and adapter
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

// The JSON text of any value (simdjson 3.0 has raw_json() on objects and arrays only).
simdjson::error_code raw_of(od::value v, std::string_view& out) {
  od::json_type type;
  if (auto e = v.type().get(type)) return e;
  if (type == od::json_type::object) {
    od::object o;
    if (auto e = v.get_object().get(o)) return e;
    return o.raw_json().get(out);
  }
  if (type == od::json_type::array) {
    od::array a;
    if (auto e = v.get_array().get(a)) return e;
    return a.raw_json().get(out);
  }
  out = v.raw_json_token();
  return simdjson::SUCCESS;
}

// A content value: a string, or a list of parts ({"type": "text", "text": ...} contributes its
// text; any other part its raw JSON), or anything else as raw JSON.
bool render_content(od::value v, std::string& out) {
  od::json_type type;
  if (v.type().get(type)) return false;
  if (type == od::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s)) return false;
    out.append(s);
    return true;
  }
  if (type == od::json_type::array) {
    od::array parts;
    if (v.get_array().get(parts)) return false;
    for (auto part : parts) {
      od::value pv;
      if (std::move(part).get(pv)) return false;
      od::json_type pt;
      if (pv.type().get(pt)) return false;
      if (pt == od::json_type::object) {
        od::object po;
        if (pv.get_object().get(po)) return false;
        // {"type": "text", "text": "..."} in either key order contributes its text; any other
        // part (an image, audio) its keys and raw values.
        const std::size_t start = out.size();
        std::string_view text;
        bool is_text = false;
        for (auto f : po) {
          od::field field;
          std::string_view key;
          if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
          if (key == "text" && !is_text) {
            if (!field.value().get_string().get(text)) {
              is_text = true;
              continue;
            }
          }
          std::string_view raw;
          if (raw_of(field.value(), raw)) return false;
          out.append(key).push_back(':');
          out.append(raw);
        }
        if (is_text) {
          out.resize(start);
          out.append(text);
        }
      } else if (pt == od::json_type::string) {
        std::string_view s;
        if (pv.get_string().get(s)) return false;
        out.append(s);
      } else {
        std::string_view raw;
        if (raw_of(pv, raw)) return false;
        out.append(raw);
      }
      out.push_back(kFieldSep);
    }
    return true;
  }
  std::string_view raw;
  if (raw_of(v, raw)) return false;
  out.append(raw);
  return true;
}

// One chat message (or responses input item): role, name, content, tool calls, in that order
// whatever the order of the keys.
bool render_message(od::value v, Scratch& s) {
  od::json_type type;
  if (v.type().get(type)) return false;
  if (type != od::json_type::object) return render_content(v, s.text);
  od::object obj;
  if (v.get_object().get(obj)) return false;
  std::string_view role, name, tool_calls, tool_call_id;
  s.content.clear();
  for (auto f : obj) {
    od::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
    if (key == "role") {
      if (field.value().get_string().get(role)) return false;
    } else if (key == "name") {
      if (field.value().get_string().get(name)) return false;
    } else if (key == "content") {
      if (!render_content(field.value(), s.content)) return false;
    } else if (key == "tool_calls") {
      if (raw_of(field.value(), tool_calls)) return false;
    } else if (key == "tool_call_id") {
      if (field.value().get_string().get(tool_call_id)) return false;
    }
  }
  auto& t = s.text;
  t.append(role).push_back(kFieldSep);
  t.append(name).push_back(kFieldSep);
  t.append(tool_call_id).push_back(kFieldSep);
  t.append(s.content).push_back(kFieldSep);
  t.append(tool_calls).push_back(kItemSep);
  return true;
}

bool render_list(od::value v, Scratch& s, bool messages) {
  od::json_type type;
  if (v.type().get(type)) return false;
  if (type != od::json_type::array) {
    if (!render_content(v, s.text)) return false;
    s.text.push_back(kItemSep);
    return true;
  }
  od::array items;
  if (v.get_array().get(items)) return false;
  for (auto item : items) {
    od::value iv;
    if (std::move(item).get(iv)) return false;
    if (messages) {
      if (!render_message(iv, s)) return false;
    } else {
      if (!render_content(iv, s.text)) return false;
      s.text.push_back(kItemSep);
    }
  }
  return true;
}

bool render(std::string_view body, Scratch& s) {
  s.text.clear();
  s.seed.clear();
  s.padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
  s.padded.assign(body);
  od::document doc;
  if (s.parser.iterate(s.padded.data(), s.padded.size(), s.padded.capacity()).get(doc)) return false;
  od::object obj;
  if (doc.get_object().get(obj)) return false;
  bool found = false;
  for (auto f : obj) {
    od::field field;
    std::string_view key;
    if (std::move(f).get(field) || field.unescaped_key().get(key)) return false;
    if (key == "model") {
      std::string_view model;
      if (!field.value().get_string().get(model)) s.seed.append(model).push_back(kFieldSep);
    } else if (key == "lora_request" || key == "adapter") {
      std::string_view raw;
      if (!raw_of(field.value(), raw)) s.seed.append(raw).push_back(kFieldSep);
    } else if (key == "messages" || key == "input") {
      if (!render_list(field.value(), s, true)) return false;
      found = true;
    } else if (key == "prompt") {
      if (!render_list(field.value(), s, false)) return false;
      found = true;
    }
  }
  return found;
}

void release_if_large(Scratch& s) {
  if (s.padded.capacity() > kRetainBytes) {
    std::string().swap(s.padded);
    s.parser = od::parser{};
  }
  if (s.text.capacity() > kRetainBytes) std::string().swap(s.text);
  if (s.content.capacity() > kRetainBytes) std::string().swap(s.content);
}

// Reads 8 bytes (little-endian on the machines this runs on; the value only has to be stable).
inline std::uint64_t load64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline std::uint64_t rotl(std::uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

std::uint64_t hash_block(const char* p, std::uint64_t prev) {
  static_assert(kBlockBytes % 8 == 0);
  std::uint64_t h = prev ^ 0x9e3779b97f4a7c15ULL;
  for (std::size_t i = 0; i < kBlockBytes; i += 8) {
    h ^= load64(p + i) * 0x87c37b91114253d5ULL;
    h = rotl(h, 31) * 0x4cf5ad432745937fULL;
  }
  return mix64(h);
}

}  // namespace

bool canonical_prompt(std::string_view json_body, std::string& text) {
  Scratch& s = scratch();
  const bool ok = render(json_body, s);
  text.assign(ok ? s.text : std::string_view());
  release_if_large(s);
  return ok;
}

void chain_blocks(std::string_view text, std::uint64_t seed, PromptChain& out) {
  out.blocks.clear();
  out.prompt_tokens = text.size() / kBytesPerToken;
  out.valid = true;
  std::uint64_t h = mix64(seed);
  for (std::size_t at = 0; at + kBlockBytes <= text.size(); at += kBlockBytes) {
    h = hash_block(text.data() + at, h);
    out.blocks.push_back(h);
  }
}

bool build_prompt_chain(std::string_view json_body, PromptChain& out) {
  Scratch& s = scratch();
  if (!render(json_body, s)) {
    out.clear();
    release_if_large(s);
    return false;
  }
  chain_blocks(s.text, hash_bytes(s.seed), out);
  release_if_large(s);
  return true;
}

}  // namespace modelgate::balancing
