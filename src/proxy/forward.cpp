// The trip to an upstream server, with failover; the answer's way back is relay.cpp.
//
// A request moves to another server only while nothing of the response has reached the client
// and its body can be sent again (read whole, or none): after a refused connection (free: nothing
// was sent), or after a reset or a `retryOn` status (each costs one of `retry.attempts`, and only
// while the service's retries stay within `retry.budgetPercent` of its requests in flight, so a
// sick cluster is not buried in retries). Once a byte went to the client the request is never
// replayed: a stream that breaks ends with an SSE error event instead.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <cerrno>

#include "balancing/feedback.h"
#include "runtime/outlier_detection.h"
#include "observability/usage_tap.h"
#include "runtime/catalogue.h"
#include "http1/gather.h"
#include "proxy/model_field.h"
#include "proxy/session_impl.h"

namespace modelgate::proxy {

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using boost::system::error_code;

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

bool is_connection_lost(const error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor;
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


}  // namespace


// For connect_failed and retryable: why, in the exchange state (a coroutine frame stays small).
Session::Attempt Session::failed(int kind, std::string why) {
  x_->attempt_error = std::move(why);
  return Attempt{static_cast<Attempt::Kind>(kind), false};
}

void Session::start_watch() {
  if (watching_) return;
  std::span<char> room = body_in_used_ ? x_->body_in.prepare(512) : in_.tail();
  if (room.empty()) return;  // the input buffer is full: a pipelining client; no watch
  watching_ = true;
  watch_into_body_in_ = body_in_used_;
  client_gone_ = false;
  client_.async_read_some(asio::buffer(room.data(), room.size()), [this](const error_code& ec, std::size_t n) {
    watching_ = false;
    if (n > 0) {  // the next request, early (pipelining): read after this one
      (watch_into_body_in_ ? x_->body_in : in_).commit(n);
      return;
    }
    if (ec == asio::error::operation_aborted) return;
    client_gone_ = true;
    if (upstream_) {
      error_code ignored;
      upstream_->socket.close(ignored);
    }
  });
}

void Session::on_watch_due(void* self) {
  auto& s = *static_cast<Session*>(self);
  if (s.awaiting_response_) s.start_watch();
}

net::Task<void> Session::stop_watch() {
  if (!watching_) co_return;
  error_code ignored;
  client_.cancel(ignored);
  // The cancelled read completes through the event loop; the input buffer is not touched again
  // until it has.
  while (watching_) co_await asio::post(client_.get_executor(), net::use_task);
}

net::Task<error_code> Session::connect(UpstreamConnection& conn, balancing::ServerState& server) {
  const auto& spec = server.spec;
  error_code ec;
  auto address = asio::ip::make_address(spec.host, ec);
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = tcp::endpoint(address, spec.port);
  } else {
    asio::ip::basic_resolver<tcp, net::Executor> resolver(client_.get_executor());
    const std::string service = std::to_string(spec.port);
    auto [rec, results] = co_await resolver.async_resolve(spec.host, service, net::try_task);
    if (rec || results.empty()) co_return rec ? rec : asio::error::host_not_found;
    endpoint = *results.begin();
  }
  auto [cec] = co_await conn.socket.async_connect(endpoint, net::try_op);
  if (cec) co_return cec;
  conn.socket.set_option(tcp::no_delay(true), ec);
  co_return error_code{};
}

net::Task<error_code> Session::send_request(Exchange& x, UpstreamConnection& conn) {
  auto& xs = *x_;
  auto& up = conn.socket;
  const auto io_timeout = x.clamp(x.service.lb.timeouts.streamIdle);
  deadline_.after(io_timeout);
  if (x.body_buffered || x.framing.kind == http1::Framing::none) {
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(xs.head), asio::buffer(xs.body)};
    auto [ec, n] = co_await asio::async_write(up, bufs, net::try_op);
    co_return ec;
  }
  // Stream the body from the client as it arrives: never read faster than the server takes it.
  x.body_consumed = true;
  if (auto ec = co_await send_continue_once()) co_return ec;
  deadline_.after(io_timeout);
  {
    auto [ec, n] = co_await asio::async_write(up, asio::buffer(xs.head), net::try_op);
    if (ec) co_return ec;
  }
  const bool chunked = x.framing.kind == http1::Framing::chunked;
  auto& chunks = xs.request_chunks;
  chunks.reset();
  std::uint64_t left = x.framing.size;  // for Content-Length
  for (;;) {
    std::string_view data;
    std::size_t used = 0;
    bool done = false;
    const auto pending = pending_body_bytes();
    if (chunked) {
      const auto step = chunks.next(pending);
      if (step.bad) {
        body_fault_ = BodyRead::malformed;
        co_return asio::error::invalid_argument;
      }
      data = step.data;
      used = step.consumed;
      done = step.done;
    } else {
      data = pending.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(left, pending.size())));
      used = data.size();
      left -= used;
      done = left == 0;
    }
    http1::Gather& out = xs.gather;
    out.clear();
    out.add_piece(data, chunked);
    if (done && chunked) out.add(kLastChunk);
    xs.record.bytes_in += data.size();
    if (!out.empty()) {
      deadline_.after(io_timeout);
      auto [wec, wn] = co_await asio::async_write(up, out.buffers(), net::try_op);
      if (wec) co_return wec;
    }
    take_body_bytes(used);
    if (done) break;
    if (used == 0) {
      if (auto rec = co_await read_body_bytes()) co_return rec;
    }
  }
  request_done_ = true;
  co_return error_code{};
}

net::Task<bool> Session::forward(const runtime::EntryPointRuntime& ep, const runtime::Route& route, WorkerRoutes& routes,
                                 bool body_buffered) {
  const runtime::ServiceRuntime& service = routes.snapshot->services[route.service];
  const auto& lb = service.lb;
  auto& xs = *x_;
  const auto& req = xs.req;
  if (!body_buffered && !request_done_) {
    if (req.body == http1::Body::length &&
        req.content_length <= std::min<std::uint64_t>(ep.spec.limits.maxBodyBytes, kReplayableBody)) {
      if (!body_arrived(ep.spec.limits.maxBodyBytes)) {
        const BodyRead got = co_await read_whole_body(ep.spec.limits.maxBodyBytes);
        if (got != BodyRead::ok) co_return co_await refuse_body(got);
      }
      body_buffered = true;
    }
  }
  usage_injected_ = false;
  if (body_buffered && !xs.body.empty() && routes.snapshot->config.usage == "inject") {
    usage_injected_ = observability::inject_include_usage(xs.body);
  }
  if (body_buffered) xs.record.bytes_in = xs.body.size();
  Exchange x{ep, route, service, *routes.pools[route.service], {}, body_buffered};
  if (lb.timeouts.total.count() > 0) x.deadline = Clock::now() + lb.timeouts.total;
  if (body_buffered) {
    if (!xs.body.empty()) x.framing = {http1::Framing::length, xs.body.size()};
  } else if (!request_done_) {
    x.framing = req.body == http1::Body::chunked ? http1::Framing{http1::Framing::chunked, 0}
                                                 : http1::Framing{http1::Framing::length, req.content_length};
  }
  const std::uint64_t key_hash =
      service.hash_key ? balancing::hash_request_key(*service.hash_key, xs.view, xs.body) : 0;

  // Model discovery: only the servers that list the model; when none of them is up, the first
  // fallback model of the `models:` section that has a server up.
  const runtime::ServerSet* allowed = nullptr;
  xs.extra_head.clear();
  if (lb.discoverModels.enabled && xs.view.model_state == routing::ModelState::present) {
    const runtime::Snapshot& snap = *routes.snapshot;
    allowed = runtime::servers_for(snap, xs.model);
    if (!allowed || runtime::available(*allowed) == 0) {
      if (auto alias = snap.config.models.find(xs.requested_model); alias != snap.config.models.end()) {
        for (const auto& fallback : alias->second.fallbacks) {
          const runtime::ServerSet* set = runtime::servers_for(snap, fallback);
          if (!set || runtime::available(*set) == 0 || !replace_model(xs.body, fallback)) continue;
          allowed = set;
          xs.model = fallback;
          xs.extra_head = fmt::format("X-Model-Fallback: {}\r\n", fallback);
          if (x.framing.kind == http1::Framing::length) x.framing.size = xs.body.size();
          break;
        }
      }
    }
    if (!allowed) {
      x_->error = ErrorReply{
          404, "model_not_found",
          fmt::format("The model `{}` is not served by any server of service \"{}\". Available "
                      "models: {}",
                      xs.requested_model, service.name, runtime::model_names(snap, {}))};
      co_return co_await reply_error(true);
    }
  }

  // cache_aware: the prompt's block chain, once the model is final (a fallback renames it).
  const balancing::PromptChain* prompt = nullptr;
  if (service.wants_prompt && body_buffered && balancing::build_prompt_chain(xs.body, xs.prompt)) {
    prompt = &xs.prompt;
  }

  auto& counters = *service.counters;
  Counted active(&counters.active);
  auto& tried = xs.tried;
  std::size_t ntried = 0;
  int attempts_left = std::max(1, lb.retry.attempts);
  std::string& last_error = xs.last_error;
  last_error = "no server is available (all unhealthy, draining or removed)";
  const auto queue_deadline = Clock::now() + lb.timeouts.connect;
  std::unique_ptr<Counted> queued;

  while (ntried < tried.size()) {
    balancing::PickRequest request{{tried.data(), ntried}, key_hash, {}, allowed != nullptr};
    if (allowed) request.allowed = *allowed;
    balancing::PickNote note;
    if (service.wants_prompt) {
      request.prompt = prompt;
      request.note = &note;
    }
    auto pick = x.pool.pick(request);
    if (!pick.server) {
      if (!pick.all_busy) break;
      // Every candidate is at its maxConnections: wait for a slot, in a bounded queue.
      if (!queued) {
        if (counters.queued.load(std::memory_order_relaxed) >= 1024) break;
        queued = std::make_unique<Counted>(&counters.queued);
      }
      if (Clock::now() >= queue_deadline || x.expired()) {
        x_->error = ErrorReply{503, "server_busy",
                           fmt::format("every server of service \"{}\" is at its maxConnections and no slot "
                                       "freed within {} ms; raise maxConnections or add servers",
                                       service.name, lb.timeouts.connect.count())};
        co_return co_await reply_error(true);
      }
      net::Timer wait(client_.get_executor(), kQueuePoll);
      co_await wait.async_wait(net::try_op);
      continue;
    }
    queued.reset();
    balancing::ServerState& server = *pick.server;
    balancing::QueueCharge charge(server, note);
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
    if (result.kind == Attempt::answered && note.indexed) {
      // The tap read this answer only when it reported usage (else it holds an earlier one's).
      const bool read = xs.record.prompt_tokens.has_value();
      const bool streamed = xs.record.stream && xs.record.ttft;
      balancing::record_answer(server, note, read ? xs.usage_tap.cached_tokens() : std::nullopt,
                               streamed ? xs.record.ttft : std::nullopt);
    }
    switch (result.kind) {
      case Attempt::answered:
      case Attempt::final:
        co_return result.keep_alive;
      case Attempt::connect_failed:
        last_error = xs.attempt_error;
        continue;  // nothing was sent: the next server, without using an attempt
      case Attempt::retryable:
        last_error = xs.attempt_error;
        ++x.attempts;
        if (--attempts_left > 0 && !x.body_consumed && !x.expired()) continue;
        break;
    }
    break;
  }
  x_->error = ErrorReply{502, "upstream_unavailable",
                     fmt::format("no server of service \"{}\" could take the request ({} tried; last: {})",
                                 service.name, ntried, last_error)};
  co_return co_await reply_error(!x.body_consumed);
}

net::Task<Session::Attempt> Session::attempt(Exchange& x, balancing::ServerState& server, bool may_retry) {
  auto& xs = *x_;
  const auto& req = xs.req;
  const auto& lb = x.service.lb;
  ++xs.record.attempts;
  // A pooled connection may have been closed by the server while idle: then the same server is
  // tried once more on a fresh connection. A body that cannot be sent again (streamed from the
  // client) never risks that: it always gets a fresh connection.
  const bool replayable = x.body_buffered || x.framing.kind == http1::Framing::none;
  for (int fresh_try = 0; fresh_try < 2; ++fresh_try) {
    auto conn = fresh_try == 0 && replayable ? worker_.upstreams().take_idle(server, net::Deadline::coarse_now())
                                             : nullptr;
    const bool reused = conn != nullptr;
    if (!conn) {
      conn = worker_.upstreams().make(server);
      upstream_ = conn.get();
      deadline_.after(x.clamp(lb.timeouts.connect));
      const auto cec = co_await connect(*conn, server);
      if (cec) {
        upstream_ = nullptr;
        runtime::record_failure(server, lb.passiveHealth, x.service.servers);
        co_return failed(Attempt::connect_failed, fmt::format("{}: connect: {}", server.spec.url,
                                      deadline_.expired() ? "timed out" : cec.message()));
      }
    }
    upstream_ = conn.get();
    struct ClearUpstream {
      Session& s;
      ~ClearUpstream() {
        s.upstream_ = nullptr;
        s.awaiting_response_ = false;
        s.watch_due_.clear();
      }
    } clear_upstream{*this};
    server.requests.fetch_add(1, std::memory_order_relaxed);
    xs.head.clear();
    http1::write_request_head(xs.head, req,
                       {lb.passHostHeader ? original_host_ : std::string_view(server.host_header),
                        server.spec.basePath, client_ip_text_, original_host_, x.framing});
    if (auto sec = co_await send_request(x, *conn)) {
      // The client's body was malformed, stalled or cut: the client's fault, not the server's.
      if (body_fault_ != BodyRead::ok) co_return Attempt{Attempt::final, co_await refuse_body(body_fault_)};
      if (x.body_consumed) {
        x_->error = ErrorReply{502, "upstream_error",
                           fmt::format("{}: sending the request failed: {}", server.spec.url, sec.message())};
        const bool keep_alive = co_await reply_error(false);
        co_return Attempt{Attempt::final, keep_alive};
      }
      if (reused) continue;
      runtime::record_failure(server, lb.passiveHealth, x.service.servers);
      co_return failed(Attempt::retryable, fmt::format("{}: send: {}", server.spec.url, sec.message()));
    }

    awaiting_response_ = true;
    watch_due_.after(net::DeadlineWheel::kTick);
    // The response head. An interim response (100 Continue, 103 Early Hints) is not relayed: the
    // final one is awaited.
    auto& res = xs.res;
    const bool head_request = req.method == "HEAD";
    deadline_.after(x.clamp(lb.timeouts.responseHeader));
    error_code rec;
    bool got_any = false;
    for (;;) {
      const auto status = http1::parse_response(conn->buffer.data(), res, {64 * 1024, http1::kMaxFields}, head_request);
      if (status == http1::Status::complete) {
        if (res.status / 100 == 1 && res.status != 101) {
          conn->buffer.consume(res.head_size);
          continue;
        }
        break;
      }
      if (status != http1::Status::incomplete) {
        rec = asio::error::invalid_argument;
        break;
      }
      auto room = conn->buffer.prepare(kResponseRead);
      auto [ec, n] = co_await conn->socket.async_read_some(asio::buffer(room.data(), room.size()), net::try_op);
      if (ec) {
        rec = ec;
        break;
      }
      got_any = true;
      conn->buffer.commit(n);
    }

    if (client_gone_) co_return Attempt{Attempt::final, false};  // nobody to answer
    if (rec) {
      if (deadline_.expired()) {
        runtime::record_failure(server, lb.passiveHealth, x.service.servers);
        const bool total = x.expired();
        x_->error = ErrorReply{
            504, "upstream_timeout",
            fmt::format("{} did not answer within {} ms (http.services.{}.loadBalancer.timeouts.{})",
                        server.spec.url,
                        total ? lb.timeouts.total.count() : lb.timeouts.responseHeader.count(),
                        x.service.name, total ? "total" : "responseHeader")};
        const bool keep_alive = co_await reply_error(!x.body_consumed);
        co_return Attempt{Attempt::final, keep_alive};
      }
      const bool lost = is_connection_lost(rec) && !got_any;
      if (reused && lost && !x.body_consumed) continue;
      runtime::record_failure(server, lb.passiveHealth, x.service.servers);
      std::string& error = xs.attempt_error;
      error = rec == asio::error::invalid_argument
                              ? fmt::format("{}: malformed response: {}", server.spec.url, res.error)
                              : fmt::format("{}: {}", server.spec.url, rec.message());
      if (!lost || x.body_consumed) {
        x_->error = ErrorReply{502, "upstream_error", error};
        const bool keep_alive = co_await reply_error(false);
        co_return Attempt{Attempt::final, keep_alive};
      }
      co_return Attempt{Attempt::retryable, false};
    }

    const int status = res.status;
    xs.record.upstream = server.spec.url;
    xs.record.ttfb = std::chrono::steady_clock::now() - started_;
    if (status >= 500) {
      runtime::record_failure(server, lb.passiveHealth, x.service.servers);
    } else {
      runtime::record_success(server);
    }
    const auto& retry_on = lb.retry.retryOn;
    if (may_retry && std::find(retry_on.begin(), retry_on.end(), status) != retry_on.end()) {
      // The answer is dropped with its connection; the client never sees it.
      co_return failed(Attempt::retryable, fmt::format("{} answered {}", server.spec.url, status));
    }
    const bool keep_alive = co_await relay_response(x, conn);
    co_return Attempt{Attempt::answered, keep_alive};
  }
  co_return failed(Attempt::connect_failed, fmt::format("{}: connection closed", server.spec.url));
}

}  // namespace modelgate::proxy
