#include "etcd/wire.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>

#include "text/base64.h"

namespace modelgate::etcd::wire {

namespace {

using simdjson::dom::element;

// One DOM parser per thread: its buffers are reused from call to call. An element is valid until
// the next parse on the thread, and every decode below finishes before it returns.
simdjson::dom::parser& thread_parser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

element parse(std::string_view json, std::string_view what) {
  element root;
  if (auto error = thread_parser().parse(json.data(), json.size()).get(root)) {
    throw DecodeError(fmt::format("{}: not JSON ({})", what, simdjson::error_message(error)));
  }
  if (!root.is_object()) throw DecodeError(fmt::format("{}: not a JSON object", what));
  return root;
}

// An int64 field, as a string ("5", protobuf's JSON mapping) or a number; 0 when absent.
std::int64_t int64_field(element object, const char* key) {
  element v;
  if (object[key].get(v)) return 0;
  if (std::string_view s; !v.get(s)) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (ec != std::errc{} || end != s.data() + s.size()) {
      throw DecodeError(fmt::format("\"{}\" is \"{}\", not an integer", key, s));
    }
    return n;
  }
  std::int64_t n = 0;
  if (v.get(n)) throw DecodeError(fmt::format("\"{}\" is not an integer", key));
  return n;
}

bool bool_field(element object, const char* key) {
  bool b = false;
  return !object[key].get(b) && b;
}

std::string string_field(element object, const char* key) {
  std::string_view s;
  if (object[key].get(s)) return {};
  return std::string(s);
}

// A `bytes` field: base64 in the JSON; "" when absent.
std::string bytes_field(element object, const char* key) {
  std::string_view s;
  if (object[key].get(s)) return {};
  auto decoded = text::base64_decode(s);
  if (!decoded) throw DecodeError(fmt::format("\"{}\" is not base64", key));
  return std::move(*decoded);
}

KeyValue decode_kv(element kv) {
  return KeyValue{bytes_field(kv, "key"), bytes_field(kv, "value"), int64_field(kv, "mod_revision"),
                  int64_field(kv, "lease")};
}

std::int64_t header_revision(element message) {
  element header;
  if (message["header"].get(header)) return 0;
  return int64_field(header, "revision");
}

// The message of a streaming answer's line: {"result": message}.
element result_of(element root, std::string_view what) {
  element result;
  if (root["result"].get(result) || !result.is_object()) {
    throw DecodeError(fmt::format("{}: no \"result\" object", what));
  }
  return result;
}

std::string b64(std::string_view bytes) { return text::base64_encode(bytes); }

}  // namespace

std::string prefix_end(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& last = reinterpret_cast<unsigned char&>(end.back());
    if (last < 0xff) {
      ++last;
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

std::string range_request(std::string_view prefix) {
  return fmt::format(R"({{"key":"{}","range_end":"{}"}})", b64(prefix.empty() ? std::string_view("\0", 1) : prefix),
                     b64(prefix_end(prefix)));
}

std::string put_request(std::string_view key, std::string_view value, std::int64_t lease) {
  if (lease == 0) return fmt::format(R"({{"key":"{}","value":"{}"}})", b64(key), b64(value));
  return fmt::format(R"({{"key":"{}","value":"{}","lease":"{}"}})", b64(key), b64(value), lease);
}

std::string delete_request(std::string_view key) { return fmt::format(R"({{"key":"{}"}})", b64(key)); }

std::string lease_grant_request(std::int64_t ttl_seconds) { return fmt::format(R"({{"TTL":"{}"}})", ttl_seconds); }

std::string lease_id_request(std::int64_t lease) { return fmt::format(R"({{"ID":"{}"}})", lease); }

std::string watch_request(std::string_view prefix, std::int64_t from_revision) {
  const std::string key = b64(prefix.empty() ? std::string_view("\0", 1) : prefix);
  if (from_revision <= 0) {
    return fmt::format(R"({{"create_request":{{"key":"{}","range_end":"{}"}}}})", key, b64(prefix_end(prefix)));
  }
  return fmt::format(R"({{"create_request":{{"key":"{}","range_end":"{}","start_revision":"{}"}}}})", key,
                     b64(prefix_end(prefix)), from_revision);
}

RangeResult decode_range(std::string_view json) {
  const element root = parse(json, "range answer");
  RangeResult result;
  result.revision = header_revision(root);
  simdjson::dom::array kvs;
  if (!root["kvs"].get(kvs)) {
    for (element kv : kvs) result.kvs.push_back(decode_kv(kv));
  }
  return result;
}

std::int64_t decode_lease_grant(std::string_view json) {
  const element root = parse(json, "lease grant answer");
  if (auto error = string_field(root, "error"); !error.empty()) throw DecodeError("lease grant: " + error);
  const std::int64_t id = int64_field(root, "ID");
  if (id == 0) throw DecodeError("lease grant answer: no \"ID\"");
  return id;
}

std::int64_t decode_keep_alive(std::string_view json) {
  // One line of the stream; the first is the answer to the one request sent.
  const auto line = json.substr(0, json.find('\n'));
  const element root = parse(line, "lease keepalive answer");
  return int64_field(result_of(root, "lease keepalive answer"), "TTL");
}

WatchMessage decode_watch(std::string_view line) {
  const element root = parse(line, "watch message");
  WatchMessage message;
  element error;
  if (!root["error"].get(error)) {
    std::string_view text;
    message.error = error.is_object() && !error["message"].get(text) ? std::string(text) : "stream error";
    return message;
  }
  const element result = result_of(root, "watch message");
  message.created = bool_field(result, "created");
  message.canceled = bool_field(result, "canceled");
  message.compact_revision = int64_field(result, "compact_revision");
  message.cancel_reason = string_field(result, "cancel_reason");
  message.revision = header_revision(result);
  simdjson::dom::array events;
  if (!result["events"].get(events)) {
    for (element event : events) {
      WatchEvent e;
      e.type = string_field(event, "type") == "DELETE" ? WatchEvent::Type::remove : WatchEvent::Type::put;
      element kv;
      if (event["kv"].get(kv)) throw DecodeError("watch message: an event without \"kv\"");
      e.kv = decode_kv(kv);
      message.events.push_back(std::move(e));
    }
  }
  return message;
}

std::string error_message(std::string_view body) {
  element root;
  if (!thread_parser().parse(body.data(), body.size()).get(root) && root.is_object()) {
    for (const char* key : {"message", "error"}) {
      if (auto text = string_field(root, key); !text.empty()) return text;
    }
  }
  std::string text(body.substr(0, 200));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text.empty() ? "(empty answer)" : text;
}

}  // namespace modelgate::etcd::wire
