#include "etcd/client.h"

#include <fmt/format.h>

#include <memory>
#include <optional>

#include "etcd/post.h"
#include "etcd/wire.h"

namespace modelgate::etcd {

namespace {

using Clock = std::chrono::steady_clock;

// An endpoint that answered it cannot serve now (no leader, shutting down, overloaded): HTTP 5xx,
// which the gateway gives gRPC's unavailable and deadline-exceeded. Another member may serve.
bool cannot_serve(int status) { return status >= 500; }

std::string unreachable(const std::string& failures) {
  return fmt::format("etcd unreachable: {}; check that etcd runs and that the endpoints name its client "
                     "URLs (etcd --listen-client-urls)", failures);
}

std::string unexpected(const Endpoint& endpoint, std::string_view path, const std::exception& e) {
  return fmt::format("etcd at {} answered {} with something else than etcd's JSON ({}); is {} etcd's client port?",
                     endpoint.to_string(), path, e.what(), endpoint.to_string());
}

// `decode(answer)`, with an answer that is not etcd's JSON turned into an Error naming `endpoint`.
template <class Decode>
auto decoded(const Endpoint& endpoint, std::string_view path, std::string_view answer, Decode decode) {
  try {
    return decode(answer);
  } catch (const wire::DecodeError& e) {
    throw Error(Error::Kind::rejected, unexpected(endpoint, path, e));
  }
}

}  // namespace

Client::Client(asio::any_io_executor ex, std::vector<Endpoint> endpoints, std::chrono::milliseconds timeout)
    : ex_(std::move(ex)), endpoints_(std::move(endpoints)), timeout_(timeout) {
  if (endpoints_.empty()) throw std::invalid_argument("etcd client: no endpoints");
}

std::string Client::current_endpoint() const { return reached_ ? endpoints_[preferred_].to_string() : ""; }

awaitable<std::string> Client::call(std::string_view path, std::string body) {
  std::string failures;
  for (std::size_t i = 0; i < endpoints_.size(); ++i) {
    const std::size_t index = (preferred_ + i) % endpoints_.size();
    const Endpoint& endpoint = endpoints_[index];
    const auto deadline = Clock::now() + timeout_;
    Post post(ex_);
    std::string answer;
    // Each co_await in a statement of its own (post.cpp says why).
    bool answered = co_await post.open(endpoint, path, body, deadline);
    if (answered) answered = co_await post.rest(answer, deadline);
    if (answered) {
      if (post.status() == 200) {
        preferred_ = index;
        reached_ = true;
        co_return answer;
      }
      if (!cannot_serve(post.status())) {
        preferred_ = index;
        reached_ = true;
        throw Error(Error::Kind::rejected, fmt::format("etcd at {} refused {} (HTTP {}): {}", endpoint.to_string(),
                                                       path, post.status(), wire::error_message(answer)));
      }
      failures += fmt::format("{}{} answered HTTP {}: {}", failures.empty() ? "" : "; ", endpoint.to_string(),
                              post.status(), wire::error_message(answer));
      continue;
    }
    failures += fmt::format("{}{} {}", failures.empty() ? "" : "; ", endpoint.to_string(), post.error());
  }
  throw Error(Error::Kind::unavailable, unreachable(failures));
}

awaitable<RangeResult> Client::range_prefix(std::string prefix) {
  // Requests are named before the co_await: g++ 12 may destroy a temporary made inside a
  // co_await expression twice (net/asio.h).
  const std::string request = wire::range_request(prefix);
  const std::string answer = co_await call("/v3/kv/range", request);
  co_return decoded(endpoints_[preferred_], "/v3/kv/range", answer, wire::decode_range);
}

awaitable<void> Client::put(std::string key, std::string value, std::int64_t lease) {
  const std::string request = wire::put_request(key, value, lease);
  co_await call("/v3/kv/put", request);
}

awaitable<void> Client::remove(std::string key) {
  const std::string request = wire::delete_request(key);
  co_await call("/v3/kv/deleterange", request);
}

awaitable<std::int64_t> Client::grant_lease(std::chrono::seconds ttl) {
  const std::string request = wire::lease_grant_request(ttl.count());
  const std::string answer = co_await call("/v3/lease/grant", request);
  co_return decoded(endpoints_[preferred_], "/v3/lease/grant", answer, wire::decode_lease_grant);
}

awaitable<std::int64_t> Client::keep_alive(std::int64_t lease) {
  // A streaming call: one request in the body, so etcd answers it and ends the stream.
  const std::string request = wire::lease_id_request(lease);
  const std::string answer = co_await call("/v3/lease/keepalive", request);
  co_return decoded(endpoints_[preferred_], "/v3/lease/keepalive", answer, wire::decode_keep_alive);
}

awaitable<void> Client::revoke(std::int64_t lease) {
  try {
    const std::string request = wire::lease_id_request(lease);
    co_await call("/v3/lease/revoke", request);
  } catch (const Error& e) {
    // Already expired or revoked: what revoking was for has happened.
    if (e.kind() != Error::Kind::rejected || std::string_view(e.what()).find("lease not found") == std::string_view::npos) {
      throw;
    }
  }
}

awaitable<void> Client::watch_prefix(std::string prefix, std::int64_t from_revision, WatchCallback on_events) {
  const std::string request = wire::watch_request(prefix, from_revision);
  constexpr std::string_view kPath = "/v3/watch";
  std::unique_ptr<Post> stream;
  std::string failures, line;
  const Endpoint* endpoint = nullptr;
  // The head and etcd's "created" message from the first endpoint that gives them in time.
  for (std::size_t i = 0; i < endpoints_.size() && !stream; ++i) {
    const std::size_t index = (preferred_ + i) % endpoints_.size();
    const auto deadline = Clock::now() + timeout_;
    auto post = std::make_unique<Post>(ex_);
    const std::string where = endpoints_[index].to_string();
    const bool opened = co_await post->open(endpoints_[index], kPath, request, deadline);
    if (!opened) {
      failures += fmt::format("{}{} {}", failures.empty() ? "" : "; ", where, post->error());
      continue;
    }
    if (post->status() != 200) {
      std::string answer;
      co_await post->rest(answer, deadline);
      const std::string what = fmt::format("HTTP {}: {}", post->status(), wire::error_message(answer));
      if (!cannot_serve(post->status())) {
        throw Error(Error::Kind::rejected, fmt::format("etcd at {} refused {} ({})", where, kPath, what));
      }
      failures += fmt::format("{}{} answered {}", failures.empty() ? "" : "; ", where, what);
      continue;
    }
    const std::optional<Clock::time_point> until = deadline;
    const bool created = co_await post->next_line(line, until);
    if (!created) {
      failures += fmt::format("{}{} {}", failures.empty() ? "" : "; ", where,
                              post->error().empty() ? "ended the watch before it began" : post->error());
      continue;
    }
    preferred_ = index;
    reached_ = true;
    endpoint = &endpoints_[index];
    stream = std::move(post);
  }
  if (!stream) throw Error(Error::Kind::unavailable, unreachable(failures));

  const std::string where = endpoint->to_string();
  for (bool first = true;; first = false) {
    bool more = true;
    const std::optional<Clock::time_point> forever;
    if (!first) more = co_await stream->next_line(line, forever);
    if (!more) {
      if (stream->error().empty()) co_return;
      throw Error(Error::Kind::unavailable,
                  fmt::format("etcd watch at {} broke ({}); watch again from the last revision seen", where,
                              stream->error()));
    }
    const wire::WatchMessage message = decoded(*endpoint, kPath, line, wire::decode_watch);
    if (!message.error.empty()) {
      throw Error(Error::Kind::unavailable, fmt::format("etcd at {} ended the watch: {}", where, message.error));
    }
    if (message.canceled) {
      if (message.compact_revision > 0) {
        throw Error(Error::Kind::compacted,
                    fmt::format("etcd at {} has compacted the revisions before {}, so a watch from {} cannot "
                                "replay them; read the keys again and watch from the revision of that read",
                                where, message.compact_revision, from_revision),
                    message.compact_revision);
      }
      throw Error(Error::Kind::rejected, fmt::format("etcd at {} canceled the watch: {}", where,
                                                     message.cancel_reason.empty() ? "no reason given"
                                                                                   : message.cancel_reason));
    }
    if (!message.events.empty()) on_events(message.events, message.revision);
  }
}

}  // namespace modelgate::etcd
