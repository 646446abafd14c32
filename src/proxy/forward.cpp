// Forwarding a request: the body made replayable when it can be, the servers a model allows, then
// the pick, the maxConnections queue and the retries. One try on one server is
// upstream_exchange.cpp; the answer's way back is relay.cpp.
//
// A request moves to another server only while nothing of the response has reached the client
// and its body can be sent again (read whole, or none): after a refused connection (free: nothing
// was sent), or after a reset or a `retryOn` status (each costs one of `retry.attempts`, and only
// while the service's retries stay within `retry.budgetPercent` of its requests in flight, so a
// sick cluster is not buried in retries). Once a byte went to the client the request is never
// replayed: a stream that breaks ends with an SSE error event instead.
//
// When every candidate is at its maxConnections the request waits in the worker's SlotQueue,
// woken by the release of a slot (slot_queue.h), for at most timeouts.connect; then 503. Waiters
// are served by priority class, then fairly between tenants by estimated tokens (fair_share.h).
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "balancing/feedback.h"
#include "observability/usage_tap.h"
#include "proxy/model_field.h"
#include "proxy/queue_ticket.h"
#include "proxy/request_cost.h"
#include "proxy/session_impl.h"
#include "runtime/catalogue.h"

namespace modelgate::proxy {

namespace {

using Clock = std::chrono::steady_clock;

// Bodies up to this size with a known length are read whole before forwarding so that the
// request can be retried on another server (as nginx's proxy_request_buffering).
constexpr std::uint64_t kReplayableBody = 1024 * 1024;
constexpr int kMinRetryConcurrency = 3;  // retries always allowed in flight, whatever the budget
constexpr int kMaxQueued = 1024;         // requests of a service waiting for a slot, all workers
// A request gives up after this many servers, even when each only refused the connection.
constexpr std::size_t kMaxServersPerRequest = 32;

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

// When it goes (after the Released made after it), a request queued for a slot of the service is
// woken. A pick whose slot was taken meanwhile wakes one for nothing: it picks again, and waits.
struct WakeQueued {
  WakeQueued(const balancing::ServerState& s, Worker& w, const runtime::ServiceCounters& c)
      : server(s), worker(w), counters(c) {}
  WakeQueued(const WakeQueued&) = delete;
  ~WakeQueued() {
    if (server.spec.maxConnections > 0) worker.slot_released(counters);
  }
  const balancing::ServerState& server;
  Worker& worker;
  const runtime::ServiceCounters& counters;
};

// What the fair queue knows of a request that has to wait: its tenant and class, and its cost
// (request_cost.h). With `auth` the tenant is the API key, of the key's priority class; without,
// the client's address, of class default.
Ticket waiting_ticket(ExchangeState& xs, bool body_buffered) {
  Ticket ticket = xs.caller ? queue_ticket(xs.caller.id, xs.caller.priority) : queue_ticket(xs.view.client_ip);
  const std::uint64_t length = xs.req.body == http1::Body::length ? xs.req.content_length : 0;
  ticket.cost = body_buffered ? estimate_request_tokens(xs.body) : estimate_streamed_tokens(length);
  return ticket;
}

}  // namespace

net::Task<bool> Session::forward(const runtime::EntryPointRuntime& ep, const runtime::Route& route, WorkerRoutes& routes,
                                 bool body_buffered) {
  const runtime::ServiceRuntime& service = routes.snapshot->services[route.service];
  const auto& lb = service.lb;
  auto& xs = *x_;
  const auto& req = xs.req;
  if (!body_buffered && !request_read()) {
    if (req.body == http1::Body::length &&
        req.content_length <= std::min<std::uint64_t>(ep.spec.limits.maxBodyBytes, kReplayableBody)) {
      if (!body_arrived(ep.spec.limits.maxBodyBytes)) {
        const BodyRead got = co_await read_whole_body(ep.spec.limits.maxBodyBytes);
        if (got != BodyRead::ok) co_return co_await refuse_body(got);
      }
      body_buffered = true;
    }
  }
  xs.usage_injected = false;
  if (body_buffered && !xs.body.empty() && routes.snapshot->config.usage == "inject") {
    xs.usage_injected = observability::inject_include_usage(xs.body);
  }
  if (body_buffered) xs.record.bytes_in = xs.body.size();
  const std::uint64_t key_hash =
      service.hash_key ? balancing::hash_request_key(*service.hash_key, xs.view, xs.body) : 0;
  Exchange x{ep, route, service, *routes.pools[route.service], {}, key_hash, body_buffered};
  if (lb.timeouts.total.count() > 0) x.deadline = Clock::now() + lb.timeouts.total;
  if (body_buffered) {
    if (!xs.body.empty()) x.framing = {http1::Framing::length, xs.body.size()};
  } else if (!request_read()) {
    x.framing = req.body == http1::Body::chunked ? http1::Framing{http1::Framing::chunked, 0}
                                                 : http1::Framing{http1::Framing::length, req.content_length};
  }

  // Model discovery: only the servers that list the model; when none of them is up, the first
  // fallback model of the `models:` section that has a server up.
  const runtime::ServerSet* allowed = nullptr;
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
  co_return co_await pick_and_try(x, allowed);
}

net::Task<bool> Session::pick_and_try(Exchange& x, const runtime::ServerSet* allowed) {
  const runtime::ServiceRuntime& service = x.service;
  const auto& lb = service.lb;
  auto& xs = *x_;
  const std::uint64_t key_hash = x.key_hash;
  // cache_aware: the prompt's block chain, once the model is final (a fallback renames it).
  const balancing::PromptChain* prompt = nullptr;
  if (service.wants_prompt && x.body_buffered && balancing::build_prompt_chain(xs.body, xs.prompt)) {
    prompt = &xs.prompt;
  }

  auto& counters = *service.counters;
  Counted active(&counters.active);
  auto& tried = xs.tried;
  tried.clear();
  int attempts_left = std::max(1, lb.retry.attempts);
  std::string& last_error = xs.last_error;
  last_error = "no server is available (all unhealthy, draining or removed)";
  const auto queue_deadline = Clock::now() + lb.timeouts.connect;
  std::optional<Counted> queued;
  std::optional<SlotQueue::Place> place;  // in the line, from the first wait until a slot

  while (tried.size() < kMaxServersPerRequest) {
    balancing::PickRequest request{&tried, key_hash, {}, allowed != nullptr};
    if (allowed) request.allowed = *allowed;
    balancing::PickNote note;
    if (service.wants_prompt) {
      request.prompt = prompt;
      request.note = &note;
    }
    auto pick = x.pool.pick(request);
    if (pick.server && !place && pick.server->spec.maxConnections > 0 &&
        worker_.slot_queue().handing_over(&counters)) {
      // The slot is on its way to a woken waiter (slot_queue.h): in line behind it instead.
      balancing::QueueCharge given_back(*pick.server, note);
      pick = {nullptr, true};
    }
    if (!pick.server) {
      if (!pick.all_busy) break;
      // Every candidate is at its maxConnections: wait for a slot, in a bounded queue. Counted as
      // queued first and then picked again once: a release on another worker that saw nobody
      // queued came before the count, so its slot shows in that pick (slot_queue.h).
      if (!queued) {
        if (counters.queued.load(std::memory_order_relaxed) >= kMaxQueued) break;
        queued.emplace(&counters.queued);
        continue;
      }
      if (!place) place.emplace(worker_.slot_queue(), &counters, waiting_ticket(xs, x.body_buffered));
      if (Clock::now() >= queue_deadline || x.expired()) {
        place.reset();  // out of the line before the answer is written
        x_->error = ErrorReply{503, "server_busy",
                           fmt::format("every server of service \"{}\" is at its maxConnections and no slot "
                                       "freed within {} ms; raise maxConnections or add servers",
                                       service.name, lb.timeouts.connect.count())};
        co_return co_await reply_error(true);
      }
      co_await worker_.slot_queue().wait(*place, std::min(queue_deadline, x.deadline));
      continue;
    }
    queued.reset();
    balancing::ServerState& server = *pick.server;
    balancing::QueueCharge charge(server, note);
    xs.charge = note.charged ? &charge : nullptr;
    struct Unset {
      balancing::QueueCharge*& p;
      ~Unset() { p = nullptr; }
    } unset{xs.charge};
    WakeQueued wake_queued(server, worker_, counters);
    // The slot is taken now, not after the connect: under maxConnections two requests must not
    // both see the last free slot.
    if (!reserve_slot(server)) continue;  // taken meanwhile (another worker): pick again
    if (place) place->served();
    place.reset();
    Released slot(&server.inflight);
    tried.insert(pick.index);

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
                                 service.name, tried.size(), last_error)};
  co_return co_await reply_error(!x.body_consumed);
}

}  // namespace modelgate::proxy
