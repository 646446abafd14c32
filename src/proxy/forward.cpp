// The trip to an upstream server and back, with failover.
//
// The response streams through a fixed relay buffer: each piece read from the server is written
// to the client before the next is read, so a Server-Sent-Events stream reaches the client event
// by event and a slow client slows the server's connection, never the gateway's memory.
//
// A request moves to another server only while nothing of the response has reached the client
// and its body can be sent again (read whole, or none): after a refused connection (free: nothing
// was sent), or after a reset or a `retryOn` status (each costs one of `retry.attempts`, and only
// while the service's retries stay within `retry.budgetPercent` of its requests in flight, so a
// sick cluster is not buried in retries). Once a byte went to the client the request is never
// replayed: a stream that breaks ends with an SSE error event instead.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>

#include "health/outlier_detection.h"
#include "observability/usage_tap.h"
#include "proxy/catalogue.h"
#include "proxy/model_field.h"
#include "proxy/session_impl.h"

namespace modelgate::proxy {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bodies up to this size with a known length are read whole before forwarding so that the
// request can be retried on another server (as nginx's proxy_request_buffering).
constexpr std::uint64_t kReplayableBody = 1024 * 1024;
constexpr int kMinRetryConcurrency = 3;  // retries always allowed in flight, whatever the budget
constexpr milliseconds kQueuePoll{2};

struct Counted {
  explicit Counted(std::atomic<int>* c) : c_(c) {
    if (c_) c_->fetch_add(1, std::memory_order_relaxed);
  }
  ~Counted() {
    if (c_) c_->fetch_sub(1, std::memory_order_relaxed);
  }
  Counted(const Counted&) = delete;
  std::atomic<int>* c_;
};

bool is_connection_lost(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == http::error::partial_message ||
         ec == asio::error::operation_aborted;
}

// Takes one of the server's in-flight slots, failing when maxConnections are all in use.
bool reserve_slot(balancing::ServerState& s) {
  const int max = s.spec.maxConnections;
  if (max <= 0) {
    s.inflight.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  int now = s.inflight.load(std::memory_order_relaxed);
  do {
    if (now >= max) return false;
  } while (!s.inflight.compare_exchange_weak(now, now + 1, std::memory_order_relaxed));
  return true;
}

// Gives a slot taken by reserve_slot back.
struct Released {
  explicit Released(std::atomic<int>* c) : c_(c) {}
  ~Released() { c_->fetch_sub(1, std::memory_order_relaxed); }
  Released(const Released&) = delete;
  std::atomic<int>* c_;
};

constexpr std::string_view kChunkEnd = "\r\n";
constexpr std::string_view kLastChunk = "0\r\n\r\n";

// Watches the client while the server works: when the client hangs up, the upstream connection is
// closed at once, so the model server stops generating for nobody.
struct ClientWatch {
  bool done = false;
  bool gone = false;
  UpstreamConnection* upstream = nullptr;
};

awaitable<void> watch_client(tcp::socket& client, std::shared_ptr<ClientWatch> watch) {
  auto [ec] = co_await client.async_wait(tcp::socket::wait_read, nothrow);
  if (ec || watch->done) co_return;
  char byte;
  const auto n = ::recv(client.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    watch->gone = true;
    if (watch->upstream) {
      beast::error_code ignored;
      watch->upstream->stream.socket().close(ignored);
    }
  }
  // n > 0: the client sent its next request early (pipelining); it is read after this one.
}

}  // namespace

struct Session::Exchange {
  const EntryPointRuntime& ep;
  const Route& route;
  const ServiceRuntime& service;
  balancing::Pool& pool;
  Framing framing;
  bool body_buffered = false;
  bool body_consumed = false;  // part of a streamed body went out: no other server can get it
  Clock::time_point deadline = Clock::time_point::max();
  int attempts = 0;

  milliseconds clamp(milliseconds d) const {
    if (deadline == Clock::time_point::max()) return d;
    auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    return std::max(milliseconds(1), std::min(d, left));
  }
  bool expired() const { return Clock::now() >= deadline; }
};

struct Session::Attempt {
  enum Kind { answered, connect_failed, retryable, final } kind = final;
  bool keep_alive = false;  // for answered and final: the client connection may continue
  std::string error;        // for connect_failed and retryable
};

awaitable<beast::error_code> Session::send_request(Exchange& x, UpstreamConnection& conn) {
  auto& up = conn.stream;
  const auto io_timeout = x.clamp(x.service.lb.timeouts.streamIdle);
  up.expires_after(io_timeout);
  if (x.body_buffered || x.framing.kind == Framing::none) {
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(head_), asio::buffer(body_)};
    auto [ec, n] = co_await asio::async_write(up, bufs, nothrow);
    co_return ec;
  }
  // Stream the body from the client as it arrives: never read faster than the server takes it.
  x.body_consumed = true;
  if (auto ec = co_await send_continue_once()) co_return ec;
  {
    auto [ec, n] = co_await asio::async_write(up, asio::buffer(head_), nothrow);
    if (ec) co_return ec;
  }
  auto lease = worker_.buffers().lease();
  auto& parser = *parser_;
  while (!parser.is_done()) {
    auto& b = parser.get().body();
    b.data = lease.data();
    b.size = lease.size();
    client_.expires_after(io_timeout);
    auto [ec, n] = co_await http::async_read_some(client_, in_, parser, nothrow);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return ec;
    const std::size_t got = lease.size() - b.size;
    if (got == 0) continue;
    record_.bytes_in += got;
    up.expires_after(io_timeout);
    char line[20];
    const std::size_t len = x.framing.kind == Framing::chunked ? chunk_size_line(line, got) : 0;
    std::array<asio::const_buffer, 3> bufs = {asio::buffer(line, len), asio::buffer(lease.data(), got),
                                              asio::buffer(kChunkEnd.data(), len ? 2 : 0)};
    auto [wec, wn] = co_await asio::async_write(up, bufs, nothrow);
    if (wec) co_return wec;
  }
  if (x.framing.kind == Framing::chunked) {
    auto [ec, n] = co_await asio::async_write(up, asio::buffer(kLastChunk), nothrow);
    co_return ec;
  }
  co_return beast::error_code{};
}

awaitable<bool> Session::forward(const EntryPointRuntime& ep, const Route& route, WorkerRoutes& routes,
                                 bool body_buffered) {
  const ServiceRuntime& service = routes.snapshot->services[route.service];
  const auto& lb = service.lb;
  if (!body_buffered && !parser_->is_done()) {
    const auto cl = parser_->content_length();
    if (cl && *cl <= std::min<std::uint64_t>(ep.spec.limits.maxBodyBytes, kReplayableBody)) {
      if (co_await read_whole_body(ep.spec.limits.maxBodyBytes) != BodyRead::ok) co_return false;
      body_buffered = true;
    }
  }
  usage_injected_ = false;
  if (body_buffered && !body_.empty() && routes.snapshot->config.usage == "inject") {
    usage_injected_ = observability::inject_include_usage(body_);
  }
  if (body_buffered) record_.bytes_in = body_.size();
  Exchange x{ep, route, service, routes.pools[route.service], {}, body_buffered};
  if (lb.timeouts.total.count() > 0) x.deadline = Clock::now() + lb.timeouts.total;
  if (body_buffered) {
    if (!body_.empty()) x.framing = {Framing::length, body_.size()};
  } else if (!parser_->is_done()) {
    x.framing = parser_->chunked() ? Framing{Framing::chunked, 0}
                                   : Framing{Framing::length, parser_->content_length().value_or(0)};
  }
  const std::uint64_t key_hash =
      service.hash_key ? balancing::hash_request_key(*service.hash_key, view_, body_) : 0;

  // Model discovery: only the servers that list the model; when none of them is up, the first
  // fallback model of the `models:` section that has a server up.
  const ServerSet* allowed = nullptr;
  extra_head_.clear();
  if (lb.discoverModels.enabled && view_.model_state == routing::ModelState::present) {
    const Snapshot& snap = *routes.snapshot;
    allowed = servers_for(snap, model_);
    if (!allowed || available(*allowed) == 0) {
      if (auto alias = snap.config.models.find(requested_model_); alias != snap.config.models.end()) {
        for (const auto& fallback : alias->second.fallbacks) {
          const ServerSet* set = servers_for(snap, fallback);
          if (!set || available(*set) == 0 || !replace_model(body_, fallback)) continue;
          allowed = set;
          model_ = fallback;
          extra_head_ = fmt::format("X-Model-Fallback: {}\r\n", fallback);
          if (x.framing.kind == Framing::length) x.framing.size = body_.size();
          break;
        }
      }
    }
    if (!allowed) {
      const ErrorReply e{
          404, "model_not_found",
          fmt::format("The model `{}` is not served by any server of service \"{}\". Available "
                      "models: {}",
                      requested_model_, service.name, model_names(snap, {}))};
      co_return co_await reply_error(e, true);
    }
  }

  auto& counters = *service.counters;
  Counted active(&counters.active);
  std::array<balancing::ServerState*, 32> tried{};
  std::size_t ntried = 0;
  int attempts_left = std::max(1, lb.retry.attempts);
  std::string last_error = "no server is available (all unhealthy, draining or removed)";
  const auto queue_deadline = Clock::now() + lb.timeouts.connect;
  std::unique_ptr<Counted> queued;

  while (ntried < tried.size()) {
    balancing::PickRequest request{{tried.data(), ntried}, key_hash, {}, allowed != nullptr};
    if (allowed) request.allowed = *allowed;
    auto pick = x.pool.pick(request);
    if (!pick.server) {
      if (!pick.all_busy) break;
      // Every candidate is at its maxConnections: wait for a slot, in a bounded queue.
      if (!queued) {
        if (counters.queued.load(std::memory_order_relaxed) >= 1024) break;
        queued = std::make_unique<Counted>(&counters.queued);
      }
      if (Clock::now() >= queue_deadline || x.expired()) {
        const ErrorReply e{503, "server_busy",
                           fmt::format("every server of service \"{}\" is at its maxConnections and no slot "
                                       "freed within {} ms; raise maxConnections or add servers",
                                       service.name, lb.timeouts.connect.count())};
        co_return co_await reply_error(e, true);
      }
      asio::steady_timer wait(client_.get_executor(), kQueuePoll);
      co_await wait.async_wait(nothrow);
      continue;
    }
    queued.reset();
    balancing::ServerState& server = *pick.server;
    // The slot is taken now, not after the connect: under maxConnections two requests must not
    // both see the last free slot.
    if (!reserve_slot(server)) continue;  // taken meanwhile (another worker): pick again
    Released slot(&server.inflight);
    tried[ntried++] = &server;

    const bool is_retry = x.attempts > 0;
    if (is_retry) {
      const int budget = std::max(kMinRetryConcurrency, counters.active.load(std::memory_order_relaxed) *
                                                            lb.retry.budgetPercent / 100);
      if (counters.retrying.load(std::memory_order_relaxed) >= budget) {
        last_error += " (not retried: the retry budget of the service is used up)";
        break;
      }
      counters.retries.fetch_add(1, std::memory_order_relaxed);
    }
    Counted retrying(is_retry ? &counters.retrying : nullptr);
    const bool may_retry = attempts_left > 1 && !x.body_consumed;
    Attempt result = co_await attempt(x, server, may_retry);
    switch (result.kind) {
      case Attempt::answered:
      case Attempt::final:
        co_return result.keep_alive;
      case Attempt::connect_failed:
        last_error = std::move(result.error);
        continue;  // nothing was sent: the next server, without using an attempt
      case Attempt::retryable:
        last_error = std::move(result.error);
        ++x.attempts;
        if (--attempts_left > 0 && !x.body_consumed && !x.expired()) continue;
        break;
    }
    break;
  }
  const ErrorReply e{502, "upstream_unavailable",
                     fmt::format("no server of service \"{}\" could take the request ({} tried; last: {})",
                                 service.name, ntried, last_error)};
  co_return co_await reply_error(e, !x.body_consumed);
}

awaitable<Session::Attempt> Session::attempt(Exchange& x, balancing::ServerState& server, bool may_retry) {
  const auto& req = parser_->get();
  const auto& lb = x.service.lb;
  ++record_.attempts;
  // A pooled connection may have been closed by the server while idle: then the same server is
  // tried once more on a fresh connection.
  for (int fresh_try = 0; fresh_try < 2; ++fresh_try) {
    const auto connect_timeout = x.clamp(lb.timeouts.connect);
    auto [cec, conn] = co_await worker_.upstreams().acquire(server, connect_timeout);
    if (cec) {
      health::record_failure(server, lb.passiveHealth, x.service.servers);
      co_return Attempt{Attempt::connect_failed, false,
                        fmt::format("{}: connect: {}", server.spec.url,
                                    cec == beast::error::timeout ? "timed out" : cec.message())};
    }
    server.requests.fetch_add(1, std::memory_order_relaxed);
    head_.clear();
    write_request_head(head_, req,
                       {x.service.lb.passHostHeader ? original_host_ : std::string_view(server.host_header),
                        server.spec.basePath, client_ip_text_, original_host_, x.framing});
    if (auto sec = co_await send_request(x, *conn)) {
      if (x.body_consumed) {
        const ErrorReply e{502, "upstream_error",
                           fmt::format("{}: sending the request failed: {}", server.spec.url, sec.message())};
        const bool keep_alive = co_await reply_error(e, false);
        co_return Attempt{Attempt::final, keep_alive, {}};
      }
      if (conn->reused) continue;
      health::record_failure(server, lb.passiveHealth, x.service.servers);
      co_return Attempt{Attempt::retryable, false,
                        fmt::format("{}: send: {}", server.spec.url, sec.message())};
    }

    auto watch = std::make_shared<ClientWatch>();
    watch->upstream = conn.get();
    asio::co_spawn(client_.get_executor(), watch_client(client_.socket(), watch), asio::detached);
    struct StopWatch {
      std::shared_ptr<ClientWatch> w;
      tcp::socket& client;
      ~StopWatch() {
        w->done = true;
        w->upstream = nullptr;
        beast::error_code ignored;
        client.cancel(ignored);
      }
    } stop_watch{watch, client_.socket()};

    // An interim response (100 Continue, 103 Early Hints) is not relayed: wait for the final one.
    std::optional<ResponseParser> rp;
    beast::error_code rec;
    conn->stream.expires_after(x.clamp(lb.timeouts.responseHeader));
    do {
      rp.emplace();
      rp->header_limit(64 * 1024);
      rp->body_limit(boost::none);
      if (req.method() == http::verb::head) rp->skip(true);
      std::tie(rec, std::ignore) = co_await http::async_read_header(conn->stream, conn->buffer, *rp, nothrow);
    } while (!rec && rp->get().result_int() / 100 == 1 && rp->get().result_int() != 101);

    if (watch->gone) co_return Attempt{Attempt::final, false, {}};  // nobody to answer
    if (rec) {
      if (rec == beast::error::timeout) {
        health::record_failure(server, lb.passiveHealth, x.service.servers);
        const bool total = x.expired();
        const ErrorReply e{
            504, "upstream_timeout",
            fmt::format("{} did not answer within {} ms (http.services.{}.loadBalancer.timeouts.{})",
                        server.spec.url,
                        total ? lb.timeouts.total.count() : lb.timeouts.responseHeader.count(),
                        x.service.name, total ? "total" : "responseHeader")};
        const bool keep_alive = co_await reply_error(e, !x.body_consumed);
        co_return Attempt{Attempt::final, keep_alive, {}};
      }
      if (conn->reused && is_connection_lost(rec) && !x.body_consumed) continue;
      health::record_failure(server, lb.passiveHealth, x.service.servers);
      std::string error = fmt::format("{}: {}", server.spec.url, rec.message());
      if (!is_connection_lost(rec) || x.body_consumed) {
        const ErrorReply e{502, "upstream_error", error};
        const bool keep_alive = co_await reply_error(e, false);
        co_return Attempt{Attempt::final, keep_alive, {}};
      }
      co_return Attempt{Attempt::retryable, false, std::move(error)};
    }

    const int status = rp->get().result_int();
    record_.upstream = server.spec.url;
    record_.ttfb = std::chrono::steady_clock::now() - started_;
    if (status >= 500) {
      health::record_failure(server, lb.passiveHealth, x.service.servers);
    } else {
      health::record_success(server);
    }
    const auto& retry_on = lb.retry.retryOn;
    if (may_retry && std::find(retry_on.begin(), retry_on.end(), status) != retry_on.end()) {
      // The answer is dropped with its connection; the client never sees it.
      co_return Attempt{Attempt::retryable, false, fmt::format("{} answered {}", server.spec.url, status)};
    }
    const bool keep_alive = co_await relay_response(x, conn, *rp);
    co_return Attempt{Attempt::answered, keep_alive, {}};
  }
  co_return Attempt{Attempt::connect_failed, false, fmt::format("{}: connection closed", server.spec.url)};
}

awaitable<bool> Session::relay_response(Exchange& x, std::unique_ptr<UpstreamConnection>& owned,
                                        ResponseParser& rp) {
  UpstreamConnection& conn = *owned;
  const auto& req = parser_->get();
  const auto& res = rp.get();
  const auto& timeouts = x.service.lb.timeouts;
  const bool http10 = req.version() < 11;
  bool client_keep = req.keep_alive() && !worker_.gateway_draining();
  const int status = res.result_int();
  const bool head_only = req.method() == http::verb::head || status == 204 || status == 304;

  ClientResponseHead out;
  if (head_only) {
    // HEAD answers carry the length of the body they omit.
    if (auto cl = rp.content_length(); cl && req.method() == http::verb::head)
      out.framing = {Framing::length, *cl};
  } else if (auto cl = rp.content_length()) {
    out.framing = {Framing::length, *cl};
  } else if (!http10) {
    out.framing = {Framing::chunked, 0};
  } else {
    out.framing = {Framing::until_close, 0};
    client_keep = false;
  }
  out.keep_alive = client_keep;
  out.extra = extra_head_;
  out.http10 = http10;
  if (x.route.upstream_header) out.upstream = conn.server->spec.url;
  const bool chunked = out.framing.kind == Framing::chunked;
  const bool is_sse = res[http::field::content_type].starts_with("text/event-stream");

  head_.clear();
  write_response_head(head_, res, out);
  auto lease = worker_.buffers().lease();
  bool head_sent = false;
  record_.status = status;
  record_.stream = is_sse;
  // Token counting reads the body as it passes; an event of usage the gateway asked for on the
  // client's behalf is taken out again, so the client sees what it asked for.
  const bool tap = !head_only && res.count(http::field::content_encoding) == 0;
  const bool strip = tap && is_sse && usage_injected_;
  if (tap)
    usage_tap_.reset(is_sse ? observability::UsageTap::Body::sse : observability::UsageTap::Body::json,
                     strip);

  auto write_piece = [&](const char* data, std::size_t got) -> awaitable<beast::error_code> {
    char line[20];
    std::size_t len = chunked && got ? chunk_size_line(line, got) : 0;
    std::array<asio::const_buffer, 4> bufs = {asio::buffer(head_.data(), head_sent ? 0 : head_.size()),
                                              asio::buffer(line, len), asio::buffer(data, got),
                                              asio::buffer(kChunkEnd.data(), len ? 2 : 0)};
    head_sent = true;
    record_.bytes_out += got;
    client_.expires_after(x.clamp(timeouts.streamIdle));
    auto [ec, n] = co_await asio::async_write(client_, bufs, nothrow);
    co_return ec;
  };

  // When the first piece of the body came with the header, both go out in one write; otherwise the
  // head goes now, so a client sees the status before a slow first token.
  if (conn.buffer.size() == 0 || head_only) {
    if (co_await write_piece(nullptr, 0)) co_return false;
  }
  beast::error_code broken;
  while (!head_only && !rp.is_done()) {
    auto& b = rp.get().body();
    b.data = lease.data();
    b.size = lease.size();
    conn.stream.expires_after(x.clamp(timeouts.streamIdle));
    auto [ec, n] = co_await http::async_read_some(conn.stream, conn.buffer, rp, nothrow);
    if (ec == http::error::need_buffer) ec = {};
    const std::size_t got = lease.size() - b.size;
    const char* data = lease.data();
    std::size_t size = got;
    if (strip) {
      tap_out_.clear();
      usage_tap_.feed({lease.data(), got}, tap_out_);
      data = tap_out_.data();
      size = tap_out_.size();
    } else if (tap && got > 0) {
      usage_tap_.feed({lease.data(), got});
    }
    if (size > 0 || !head_sent) {
      // A failed write means the client is gone; the upstream connection closes with us.
      if (co_await write_piece(data, size)) co_return false;
    }
    if (ec) {
      broken = ec;
      break;
    }
  }
  if (tap) {
    if (strip) {
      tap_out_.clear();
      usage_tap_.finish(tap_out_);
      if (!tap_out_.empty() && co_await write_piece(tap_out_.data(), tap_out_.size())) co_return false;
    } else {
      usage_tap_.finish();
    }
    record_.prompt_tokens = usage_tap_.prompt_tokens();
    record_.completion_tokens = usage_tap_.completion_tokens();
    if (auto first = usage_tap_.first_data_at()) record_.ttft = *first - started_;
  }
  if (!head_sent) {
    if (co_await write_piece(nullptr, 0)) co_return false;
  }
  if (broken) {
    spdlog::warn("{}: response broken after it started: {}", conn.server->spec.url,
                 broken == beast::error::timeout ? "no data within timeouts.streamIdle" : broken.message());
    health::record_failure(*conn.server, x.service.lb.passiveHealth, x.service.servers);
    if (chunked && is_sse) {
      // A broken event stream still ends cleanly: the client gets an error event it can show.
      const ErrorReply e{
          502, "upstream_stream_broken",
          fmt::format("the model server {} stopped in the middle of the response", conn.server->spec.url)};
      const std::string event = fmt::format("data: {}\n\n", error_json(e));
      std::string tail = fmt::format("{:x}\r\n{}\r\n{}", event.size(), event, kLastChunk);
      client_.expires_after(std::chrono::seconds(5));
      co_await asio::async_write(client_, asio::buffer(tail), nothrow);
    }
    // Any other body is left visibly incomplete (no last chunk, or short of its length): closing
    // tells the client the truth.
    co_return false;
  }
  if (chunked) {
    client_.expires_after(x.clamp(timeouts.streamIdle));
    auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kLastChunk), nothrow);
    if (ec) co_return false;
  }
  if (rp.keep_alive() && rp.is_done()) worker_.upstreams().release(std::move(owned));
  co_return client_keep;
}

}  // namespace modelgate::proxy
