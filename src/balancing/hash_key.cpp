#include "balancing/hash_key.h"

#include <simdjson.h>

#include <algorithm>

namespace modelgate::balancing {

namespace {

// Scratch kept for bodies up to this size; a larger body is parsed, then its memory is returned.
constexpr std::size_t kRetainBytes = std::size_t{1} << 20;

bool is_token(std::string_view s) {  // RFC 9110 section 5.6.2
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {  // optional whitespace: SP and HTAB
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view find_header(std::span<const routing::HeaderField> headers, std::string_view name) {
  for (const auto& h : headers) {
    if (iequals(h.name, name)) return trim(h.value);
  }
  return {};
}

// `Cookie: a=1; b="2"` (RFC 6265 section 4.2.1); names are case-sensitive, the first match wins.
std::string_view find_cookie(std::span<const routing::HeaderField> headers, std::string_view name) {
  for (const auto& h : headers) {
    if (!iequals(h.name, "cookie")) continue;
    std::string_view rest = h.value;
    while (!rest.empty()) {
      const auto semi = rest.find(';');
      const std::string_view pair = trim(rest.substr(0, semi));
      rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
      std::string_view value = trim(pair.substr(eq + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      return value;
    }
  }
  return {};
}

struct JsonScratch {
  simdjson::ondemand::parser parser;
  std::string padded;  // the body copied with SIMDJSON_PADDING spare bytes after it
};

// The hash of the top-level string or number `field` of `body`, or nullopt.
std::optional<std::uint64_t> hash_field(JsonScratch& scratch, std::size_t size, std::string_view field) {
  simdjson::ondemand::document doc;
  if (scratch.parser.iterate(scratch.padded.data(), size, scratch.padded.capacity()).get(doc)) {
    return std::nullopt;
  }
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  simdjson::ondemand::value v;
  if (obj.find_field_unordered(field).get(v)) return std::nullopt;
  simdjson::ondemand::json_type type;
  if (v.type().get(type)) return std::nullopt;
  if (type == simdjson::ondemand::json_type::string) {
    std::string_view s;
    if (v.get_string().get(s) || s.empty()) return std::nullopt;
    return hash_bytes(s);
  }
  if (type == simdjson::ondemand::json_type::number) {
    // The number as written; the raw token runs on over the whitespace after it.
    std::string_view raw = v.raw_json_token();
    while (!raw.empty() &&
           (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\n' || raw.back() == '\r')) {
      raw.remove_suffix(1);
    }
    return hash_bytes(raw);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> hash_body_field(std::string_view body, std::string_view field) {
  if (body.empty()) return std::nullopt;
  thread_local JsonScratch scratch;
  scratch.padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);  // before assign: no shrink
  scratch.padded.assign(body);
  auto hash = hash_field(scratch, body.size(), field);
  if (body.size() > kRetainBytes) {
    std::string().swap(scratch.padded);
    scratch.parser = simdjson::ondemand::parser{};
  }
  return hash;
}

std::uint64_t hash_ip(const routing::IpAddress& ip) {
  return hash_bytes({reinterpret_cast<const char*>(ip.bytes.data()), ip.bytes.size()});
}

}  // namespace

std::optional<HashKey> HashKey::parse(std::string_view text) {
  if (text == "client_ip") return HashKey{client_ip, {}};
  auto named = [&](std::string_view prefix, Kind kind, bool token) -> std::optional<HashKey> {
    const auto name = text.substr(prefix.size());
    if (token ? !is_token(name) : name.empty()) return std::nullopt;
    return HashKey{kind, std::string(name)};
  };
  if (text.starts_with("header:")) return named("header:", header, true);
  if (text.starts_with("cookie:")) return named("cookie:", cookie, true);
  if (text.starts_with("body:")) return named("body:", body, false);
  return std::nullopt;
}

std::uint64_t hash_request_key(const HashKey& key, const routing::RequestView& request,
                               std::string_view json_body) {
  std::string_view value;
  switch (key.kind) {
    case HashKey::client_ip:
      break;
    case HashKey::header:
      value = find_header(request.headers, key.name);
      break;
    case HashKey::cookie:
      value = find_cookie(request.headers, key.name);
      break;
    case HashKey::body:
      if (auto h = hash_body_field(json_body, key.name)) return *h;
      break;
  }
  if (!value.empty()) return hash_bytes(value);
  return hash_ip(request.client_ip);
}

}  // namespace modelgate::balancing
