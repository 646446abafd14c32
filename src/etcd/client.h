// A client of etcd v3 over its JSON gateway (the gRPC gateway every etcd ≥ 3.4 serves on its client
// port: HTTP/1.1 POSTs of JSON to /v3/kv/range, /v3/lease/grant, /v3/watch, ...), for the
// configuration provider and for `modelgate register`.
//
// Why the JSON gateway rather than gRPC: it is etcd's own, documented API, it needs nothing the
// gateway does not already link (Beast for HTTP, simdjson, OpenSSL's base64), and every call the
// provider and the sidecar make is rare (a range at start, a keepalive every few seconds) except
// the watch, which is one long-lived streaming POST either way.
//
// Calls: one fresh connection per call (`Connection: close`), as the health probes do: calls are
// seconds apart and a fresh connection notices an etcd that stopped accepting. Each attempt at an
// endpoint is bounded by the client's timeout (connect, send and the whole answer); when an
// endpoint cannot be reached, does not answer in time, or answers that it cannot serve (HTTP 5xx,
// gRPC "unavailable": no leader, shutting down), the next endpoint is tried, starting from the one
// that last answered. An answer that refuses the request (a bad key, an unknown lease) is final.
//
// The watch (watch_prefix) is one streaming POST: the head and etcd's "created" message must
// arrive within the timeout, later messages may be any time apart; TCP keepalive probes (every
// `timeout`, a few times) notice an etcd machine that vanished without closing the connection.
// It honours the cancellation slot of the coroutine that awaits it (Asio per-operation
// cancellation), so `co_await (client.watch_prefix(...) || timer.async_wait(use_awaitable))`
// ends it.
//
// Integers: etcd's JSON carries int64 as strings ("revision":"5"); both forms are read.
// A Client is used from one thread (the executor it was given); it keeps which endpoint answered.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace modelgate::etcd {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const;  // "host:port" ("[v6]:port")
};

// "127.0.0.1:2379", "http://host:2379", "[::1]:2379", "host" (port 2379); a trailing '/' is
// allowed. nullopt for anything else (https://: TLS to etcd is not supported).
std::optional<Endpoint> parse_endpoint(std::string_view text);
// A comma-separated list of endpoints; nullopt with `bad` set to the first that does not parse.
std::optional<std::vector<Endpoint>> parse_endpoints(std::string_view list, std::string* bad = nullptr);

struct KeyValue {
  std::string key, value;
  std::int64_t mod_revision = 0;
  std::int64_t lease = 0;  // 0: no lease
};

struct RangeResult {
  std::vector<KeyValue> kvs;
  std::int64_t revision = 0;  // the store's revision when the range was read (header.revision)
};

struct WatchEvent {
  enum class Type { put, remove } type = Type::put;
  KeyValue kv;  // for remove: the key and the mod_revision of the deletion, no value
};

class Error : public std::runtime_error {
 public:
  enum class Kind {
    unavailable,  // no endpoint answered in time, or every one said it cannot serve now
    rejected,     // etcd answered and refused the request (the message says why)
    compacted,    // a watch from a revision etcd has compacted away: range again, then watch
  };
  Error(Kind kind, const std::string& message, std::int64_t compact_revision = 0)
      : std::runtime_error(message), kind_(kind), compact_revision_(compact_revision) {}
  Kind kind() const { return kind_; }
  bool compacted() const { return kind_ == Kind::compacted; }
  // For compacted: the oldest revision etcd still has (watch from here on, after a range).
  std::int64_t compact_revision() const { return compact_revision_; }

 private:
  Kind kind_;
  std::int64_t compact_revision_;
};

class Client {
 public:
  using WatchCallback = std::function<void(std::span<const WatchEvent>, std::int64_t revision)>;

  // `endpoints` must not be empty. `timeout` bounds every attempt at one endpoint.
  Client(boost::asio::any_io_executor ex, std::vector<Endpoint> endpoints, std::chrono::milliseconds timeout);

  // Every key that starts with `prefix` ("" = every key), in key order.
  boost::asio::awaitable<RangeResult> range_prefix(std::string prefix);
  // Writes `value` at `key`, attached to `lease` when not 0 (the key goes when the lease does).
  boost::asio::awaitable<void> put(std::string key, std::string value, std::int64_t lease = 0);
  // Deletes `key`; a key that does not exist is no error.
  boost::asio::awaitable<void> remove(std::string key);
  // A new lease of `ttl` (etcd may grant a longer one); its id.
  boost::asio::awaitable<std::int64_t> grant_lease(std::chrono::seconds ttl);
  // Renews `lease` once: the TTL it has again, in seconds; 0 when the lease is gone (expired or
  // revoked: grant a new one and write the keys again).
  boost::asio::awaitable<std::int64_t> keep_alive(std::int64_t lease);
  // Ends `lease` now and deletes its keys; a lease already gone is no error.
  boost::asio::awaitable<void> revoke(std::int64_t lease);
  // One streaming POST /v3/watch for every key under `prefix`, from `from_revision` on (0: from
  // now); calls on_events for each batch (with the batch's header revision) until the stream
  // ends (returns) or fails (throws Error; a compacted revision is an Error that says so).
  boost::asio::awaitable<void> watch_prefix(std::string prefix, std::int64_t from_revision, WatchCallback on_events);

  const std::vector<Endpoint>& endpoints() const { return endpoints_; }
  std::chrono::milliseconds timeout() const { return timeout_; }
  // The endpoint the last call reached ("" before the first).
  std::string current_endpoint() const;

 private:
  // POSTs `body` to `path` on each endpoint in turn until one answers; the answer's JSON.
  boost::asio::awaitable<std::string> call(std::string_view path, std::string body);

  boost::asio::any_io_executor ex_;
  std::vector<Endpoint> endpoints_;
  std::chrono::milliseconds timeout_;
  std::size_t preferred_ = 0;  // where the next call starts
  bool reached_ = false;
};

}  // namespace modelgate::etcd
