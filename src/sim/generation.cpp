// Chat and text completions, timed like a real model server.
//
// Token i (1-based) is due at t0 + ttft + (i-1)·tpot, where t0 is when the generation got a
// concurrency slot; the deadlines are absolute, so timer latency does not accumulate. A
// non-streamed answer is sent when its last token is due (ttft + (n-1)·tpot). A stream's response
// head is written at once (as vLLM does), each token is its own SSE event and HTTP chunk, written
// and flushed as it is due; the finish event, the optional usage event and [DONE] follow the last
// token immediately.
//
// While a generation waits (in the queue, for a token, or in an injected stall) a concurrent read
// on the socket (watch_close) notices the client leaving; awaitable_operators' `||` then cancels
// the generation, which gives its slot back, and the request counts as aborted.
//
// With ttft = tpot = 0 (throughput benchmarks) there is nothing to wait for: the fast path takes
// a slot without queueing, builds the whole answer in the connection's reused buffer and writes
// it with one write, with no timer, no concurrent read and no coroutine spawned.
#include <charconv>
#include <random>
#include <thread>
#include <variant>

#include <unistd.h>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <fmt/format.h>

#include "sim/http_out.h"
#include "sim/session.h"

namespace modelgate::sim::detail {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

std::optional<int> header_int(const boost::beast::http::fields& fields, std::string_view name) {
  auto it = fields.find(name);
  if (it == fields.end()) return std::nullopt;
  std::string_view v = it->value();
  int n = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc{} || ptr != v.data() + v.size()) return std::nullopt;
  return n;
}

}  // namespace

std::optional<int> forced_status(const boost::beast::http::fields& fields) {
  auto status = header_int(fields, "X-Sim-Status");
  if (status && *status >= 300 && *status <= 599) return status;
  return std::nullopt;
}

namespace {

bool roll(double rate) {
  thread_local std::minstd_rand rng(
      std::random_device{}() ^ static_cast<unsigned>(std::hash<std::thread::id>{}(std::this_thread::get_id())));
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng) < rate;
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

asio::awaitable<bool> Session::generation(Request& request, Endpoint endpoint) {
  const SimOptions& o = core_.options;
  auto number = core_.stats.requests.fetch_add(1, std::memory_order_relaxed) + 1;
  if (o.die_after_requests > 0 && number > static_cast<std::uint64_t>(o.die_after_requests)) {
    ::_exit(1);  // an injected crash: no cleanup, no flush
  }
  if (auto forced = forced_status(request)) {
    co_return co_await send_error({*forced, "Simulated failure (X-Sim-Status).", error_type(*forced)});
  }
  GenerationRequest& r = generation_request_;
  r.render_prompt = core_.engines != nullptr;
  if (auto error = parse_generation(request.body(), endpoint, o.default_max_tokens, r))
    co_return co_await send_error(*error);
  if (!core_.models.contains(r.model)) {
    co_return co_await send_error({404, fmt::format("The model `{}` does not exist.", r.model),
                                   "invalid_request_error", "model_not_found"});
  }
  if (o.fail_rate > 0 && roll(o.fail_rate)) {
    co_return co_await send_error({500, "Simulated internal error (fail_rate).", "server_error"});
  }
  int ttft = std::max(0, header_int(request, "X-Sim-Ttft-Ms").value_or(o.ttft_ms));
  int tpot = std::max(0, header_int(request, "X-Sim-Tpot-Ms").value_or(o.tpot_ms));

  Completion c;
  c.endpoint = endpoint;
  c.id = core_.next_id.fetch_add(1, std::memory_order_relaxed);
  c.created = unix_now();
  c.model = r.model;
  c.name = o.name;
  c.prompt_tokens = r.prompt_tokens;
  c.completion_tokens = r.max_tokens;
  c.finish_reason = r.max_tokens_given ? "length" : "stop";

  bool stalls = r.stream && o.stall_after_chunks > 0 && r.max_tokens > o.stall_after_chunks;
  if (ttft == 0 && tpot == 0 && !stalls && !core_.engines && core_.limiter.try_acquire()) {
    SlotGuard slot(core_.limiter);
    if (r.stream) {
      build_complete_stream(c, r.include_usage);
      slot.reset();
      bool ok = co_await write(out_);
      (ok ? core_.stats.completed : core_.stats.aborted).fetch_add(1, std::memory_order_relaxed);
      co_return ok;
    }
    body_.clear();
    append_completion(body_, c);
    slot.reset();
    start_head(200, kJson, body_.size());
    bool ok = co_await write(out_, body_);
    (ok ? core_.stats.completed : core_.stats.aborted).fetch_add(1, std::memory_order_relaxed);
    co_return ok;
  }

  auto work = core_.engines ? engine_generation(c, r.stream, r.include_usage)
                            : timed_generation(c, r.stream, r.include_usage, ttft, tpot);
  auto result = co_await (std::move(work) || watch_close());
  if (result.index() == 1) {  // the client left first
    core_.stats.aborted.fetch_add(1, std::memory_order_relaxed);
    co_return false;
  }
  bool ok = std::get<0>(result) == Outcome::completed;
  (ok ? core_.stats.completed : core_.stats.aborted).fetch_add(1, std::memory_order_relaxed);
  co_return ok;
}

void Session::build_complete_stream(const Completion& c, bool include_usage) {
  start_head(200, kEventStream, std::nullopt);
  frame_stream_start(c);
  for (int i = 1; i <= c.completion_tokens; ++i) {
    event_.clear();
    append_token_event(event_, c, i);
    frame(event_);
  }
  append_stream_end(c, include_usage);
}

void Session::append_stream_end(const Completion& c, bool include_usage) {
  event_.clear();
  append_finish_event(event_, c);
  frame(event_);
  if (include_usage) {
    event_.clear();
    append_usage_event(event_, c);
    frame(event_);
  }
  event_.clear();
  append_done_event(event_, c);
  if (!event_.empty()) frame(event_);
  if (!http10_) out_ += kLastChunk;
}

void Session::frame_stream_start(const Completion& c) {
  event_.clear();
  append_stream_start(event_, c);
  if (!event_.empty()) frame(event_);
}

asio::awaitable<Session::Outcome> Session::timed_generation(Completion c, bool stream,
                                                             bool include_usage, int ttft_ms,
                                                             int tpot_ms) {
  try {
    disarm();  // the client decides how long it waits
    if (stream) {
      start_head(200, kEventStream, std::nullopt);
      frame_stream_start(c);
      if (!co_await write(out_)) co_return Outcome::failed;
      disarm();
    }
    SlotGuard slot;
    if (!core_.limiter.try_acquire() && !co_await core_.limiter.acquire(executor()))
      co_return Outcome::failed;
    slot.hold(core_.limiter);

    const auto t0 = Clock::now();
    const auto ttft = std::chrono::milliseconds(ttft_ms);
    const auto tpot = std::chrono::milliseconds(tpot_ms);
    const int n = c.completion_tokens;

    if (!stream) {
      if (!co_await sleep_until(t0 + ttft + tpot * std::max(0, n - 1))) co_return Outcome::failed;
      slot.reset();
      body_.clear();
      append_completion(body_, c);
      start_head(200, kJson, body_.size());
      co_return co_await write(out_, body_) ? Outcome::completed : Outcome::failed;
    }

    const int stall_after = core_.options.stall_after_chunks;
    for (int i = 1; i <= n; ++i) {
      if (!co_await sleep_until(t0 + ttft + tpot * (i - 1))) co_return Outcome::failed;
      if ((stall_after > 0 && i > stall_after) || core_.hung()) {
        // Injected stall: keep the connection (and the slot) until the client gives up.
        co_await wait_forever(generation_timer_);
        co_return Outcome::failed;
      }
      out_.clear();
      event_.clear();
      append_token_event(event_, c, i);
      frame(event_);
      if (!co_await write(out_)) co_return Outcome::failed;
      disarm();
    }
    slot.reset();
    out_.clear();
    append_stream_end(c, include_usage);
    co_return co_await write(out_) ? Outcome::completed : Outcome::failed;
  } catch (const std::exception&) {
    co_return Outcome::failed;  // cancelled while awaiting
  }
}

}  // namespace modelgate::sim::detail
