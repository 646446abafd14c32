// A session's side of the engine model (engine.h): the prompt is tokenized here, on the
// session's thread, and submitted to the model's engine loop as a sequence; the session then
// waits for the engine to report progress and writes what it reports — each new token as an SSE
// event when streaming, the whole answer once finished otherwise, with usage as vLLM gives it
// (prompt_tokens_details.cached_tokens).
//
// Progress crosses threads through a Ticket: the engine thread stores the latest counts in
// atomics and rings a one-slot channel; the session reads the counts when it wakes, so a slow
// client gets the tokens it missed in one write instead of a growing queue. The engine holds
// the ticket only weakly. If the generation ends early (the client left, a write failed) the
// sequence is aborted, which frees its slot and blocks at once.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>

#include "text/prometheus.h"
#include "sim/http_out.h"
#include "sim/session.h"

namespace modelgate::sim::detail {

namespace asio = boost::asio;

namespace {

struct Ticket {
  explicit Ticket(const asio::any_io_executor& executor) : signal(executor, 1) {}
  asio::experimental::concurrent_channel<void(boost::system::error_code)> signal;
  std::atomic<int> generated{0};
  std::atomic<int> cached{0};
  std::atomic<bool> finished{false};
};

class TicketSink final : public SequenceSink {
 public:
  explicit TicketSink(const std::shared_ptr<Ticket>& ticket) : ticket_(ticket) {}
  void on_progress(const Progress& p) override {
    auto ticket = ticket_.lock();
    if (!ticket) return;
    ticket->cached.store(p.cached_tokens, std::memory_order_relaxed);
    ticket->generated.store(p.generated, std::memory_order_relaxed);
    ticket->finished.store(p.finished, std::memory_order_release);
    ticket->signal.try_send(boost::system::error_code{});  // a full slot already rings
  }

 private:
  std::weak_ptr<Ticket> ticket_;
};

// Aborts the sequence unless the engine finished it.
struct AbortUnlessFinished {
  EngineLoop& loop;
  std::uint64_t id;
  const Ticket& ticket;
  ~AbortUnlessFinished() {
    if (!ticket.finished.load(std::memory_order_acquire)) loop.abort(id);
  }
};

}  // namespace

asio::awaitable<Session::Outcome> Session::engine_generation(Completion c, bool stream,
                                                             bool include_usage) {
  try {
    disarm();  // the client decides how long it waits
    EngineSet& engines = *core_.engines;
    const GenerationRequest& r = generation_request_;
    {
      Tokenizer tokenizer(engines.config().block_tokens, engine_prompt_);
      tokenizer.add(r.prompt);
      tokenizer.finish();
    }
    c.prompt_tokens = std::max(1, engine_prompt_.tokens);
    auto loop = engines.get(r.model);
    const Engine& engine = loop->engine();
    if (!engine.fits(c.prompt_tokens, c.completion_tokens)) {
      const std::int64_t cache_tokens = std::int64_t{engine.cache().total_blocks()} * engines.config().block_tokens;
      co_return co_await send_error(
                    {400,
                     fmt::format("This model's KV cache holds {} tokens, but the request needs {} ({} in "
                                 "the prompt, {} in the completion). Shorten the prompt or lower "
                                 "max_tokens (or start the sim with a larger --kv-cache-tokens).",
                                 cache_tokens, std::int64_t{c.prompt_tokens} + c.completion_tokens,
                                 c.prompt_tokens, c.completion_tokens)})
                    ? Outcome::completed
                    : Outcome::failed;
    }

    auto ticket = std::make_shared<Ticket>(executor());
    loop->submit({c.id, c.prompt_tokens, engine_prompt_.block_keys, c.completion_tokens,
                  std::make_shared<TicketSink>(ticket)});
    AbortUnlessFinished abort_guard{*loop, c.id, *ticket};

    if (stream) {
      start_head(200, kEventStream, std::nullopt);
      frame_stream_start(c);
      if (!co_await write(out_)) co_return Outcome::failed;
      disarm();
    }
    const int stall_after = core_.options.stall_after_chunks;
    const bool stalls = stream && stall_after > 0 && c.completion_tokens > stall_after;
    int sent = 0;
    for (;;) {
      auto [ec] = co_await ticket->signal.async_receive(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return Outcome::failed;
      const bool finished = ticket->finished.load(std::memory_order_acquire);
      const int generated = ticket->generated.load(std::memory_order_relaxed);
      if (stream && generated > sent) {
        const int upto = stalls ? std::min(generated, stall_after) : generated;
        out_.clear();
        while (sent < upto) {
          event_.clear();
          append_token_event(event_, c, ++sent);
          frame(event_);
        }
        if (!out_.empty() && !co_await write(out_)) co_return Outcome::failed;
        disarm();
        if ((stalls && sent >= stall_after) || core_.hung()) {
          // Injected stall: keep the connection until the client gives up.
          co_await wait_forever(generation_timer_);
          co_return Outcome::failed;
        }
      }
      if (finished) break;
    }
    c.cached_tokens = ticket->cached.load(std::memory_order_relaxed);
    if (!stream) {
      body_.clear();
      append_completion(body_, c);
      start_head(200, kJson, body_.size());
      co_return co_await write(out_, body_) ? Outcome::completed : Outcome::failed;
    }
    out_.clear();
    append_stream_end(c, include_usage);
    co_return co_await write(out_) ? Outcome::completed : Outcome::failed;
  } catch (const std::exception&) {
    co_return Outcome::failed;  // cancelled while awaiting
  }
}

asio::awaitable<bool> Session::engine_metrics() {
  body_.clear();
  core_.engines->append_metrics(body_, *core_.models.snapshot());
  co_return co_await send(200, text::kPrometheusContentType, body_);
}

}  // namespace modelgate::sim::detail
