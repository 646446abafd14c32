// The JSON of etcd's gateway, both ways, as pure functions (no I/O), so they are tested without
// an etcd: the request bodies the client sends and the answers it reads.
//
// etcd's messages are protobuf in its JSON mapping: `bytes` fields (keys, values) are base64,
// int64 fields are strings ("revision":"5"), fields at their zero value are left out (a PUT
// event has no "type", a lease that is gone no "TTL"). Streaming answers (/v3/watch,
// /v3/lease/keepalive) are one JSON object per line, each {"result": message} or {"error": status}.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "etcd/client.h"

namespace modelgate::etcd::wire {

// An answer that is not the JSON etcd sends (what the client was connected to is not etcd, or it
// changed its API); the message says what was missing.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The end of the key range of every key starting with `prefix`: the prefix with its last byte that
// is not 0xff incremented and what follows dropped; "\0" (every key) for "" or all-0xff prefixes.
std::string prefix_end(std::string_view prefix);

std::string range_request(std::string_view prefix);
std::string put_request(std::string_view key, std::string_view value, std::int64_t lease);
std::string delete_request(std::string_view key);
std::string lease_grant_request(std::int64_t ttl_seconds);
std::string lease_id_request(std::int64_t lease);  // keepalive and revoke
std::string watch_request(std::string_view prefix, std::int64_t from_revision);

RangeResult decode_range(std::string_view json);
std::int64_t decode_lease_grant(std::string_view json);  // the lease's ID
std::int64_t decode_keep_alive(std::string_view json);   // the TTL left, 0 when the lease is gone

struct WatchMessage {
  bool created = false;
  bool canceled = false;
  std::int64_t compact_revision = 0;  // set with canceled when the start revision was compacted
  std::string cancel_reason;
  std::int64_t revision = 0;  // header.revision
  std::vector<WatchEvent> events;
  std::string error;  // a stream-level error ({"error": ...}): the stream is over
};
WatchMessage decode_watch(std::string_view line);

// What an error answer says ({"error":"...","message":"...","code":N}), or the text itself,
// shortened, when it is not such JSON.
std::string error_message(std::string_view body);

}  // namespace modelgate::etcd::wire
