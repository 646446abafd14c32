// Internals of a client session, in parts, one file each:
//   session.cpp           the codec loop: read a head, answer, keep-alive, pipelining, linger
//   route_decision.cpp    which route, or which error answer (pure; unit-tested without sockets)
//   request_body.cpp      the request body, read whole or handed on as it arrives
//   forward.cpp           pick a server, the maxConnections queue, retries
//   upstream_exchange.cpp one try on one server: connect, send the request, await the answer head
//   relay.cpp             the answer's way back to the client
//   hangup_watch.cpp      noticing a client that leaves while the server works
//   middleware_run.cpp    a router's middlewares, and forwardAuth's call to the auth service
//
// A session keeps only what an idle keep-alive connection needs: its socket, its deadline and a
// small input buffer. Everything a request needs while it is served (the parsed heads, the output
// head, the body read whole, the usage tap, the access-log record) is an ExchangeState lent by the
// worker for the length of one exchange.
//
// The session's state is one value (Session::State) rather than a set of flags:
//
//   state         what has happened                      what it allows
//   idle          between requests                       a read into the input buffer (timeouts.idle)
//   reading_head  a request began, its head is not whole reads into the input buffer
//                                                        (timeouts.readHeader); an error answer,
//                                                        after which the connection lingers
//   head_read     the head is parsed, no body byte read  routing; reading the body; 100 Continue
//                 past what came with it                 (sent on the move to reading_body, so once)
//   reading_body  the body is being read, whole or       more body reads (timeouts.readBody); an
//                 streamed to a server                   error answer, then the connection lingers
//   request_read  the whole request is read              routing; an attempt on a server; an answer
//                                                        that keeps the connection
//   at_server     the request went to a server and its   the hang-up watch (from a tick after the
//                 answer is not relayed yet              send); a retry only before the answer began
//   lingering     the gateway answered a request it did  nothing more on this connection: after the
//                 not read whole                         answer, what the client sends is drained
//   closing       the answer is the last (408)           nothing more; the connection closes
//
// Callbacks never outlive what they touch: the deadlines are members whose destructor unfiles
// them from the worker's wheel (which guarantees no call after that), and the hang-up watch's
// handler holds only a block it shares with the watch (hangup_watch.h).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "balancing/feedback.h"
#include "observability/request_record.h"
#include "observability/usage_tap.h"
#include "net/deadline.h"
#include "proxy/errors.h"
#include "proxy/model_field.h"
#include "proxy/hangup_watch.h"
#include "proxy/route_decision.h"
#include "http1/gather.h"
#include "http1/parser.h"
#include "http1/head.h"
#include "net/io.h"
#include "net/read_buffer.h"
#include "net/stream.h"
#include "runtime/catalogue.h"
#include "runtime/snapshot.h"
#include "proxy/worker.h"
#include "routing/rule.h"
#include "tenancy/caller.h"
#include "tenancy/limiter.h"

namespace modelgate::proxy {

// What one request needs while it is served; reused by the worker from request to request, so
// its buffers keep their capacity and the steady state allocates nothing.
struct ExchangeState {
  http1::RequestHead req;
  http1::ResponseHead res;
  http1::ChunkedDecoder request_chunks;
  http1::ChunkedDecoder response_chunks;
  net::ReadBuffer body_in{16 * 1024};  // request body bytes read after the head's buffer
  routing::RequestView view;      // the current request as rules and hash keys see it
  std::string head;               // output buffer for message heads
  std::string body;               // a request body read whole
  std::string model;              // the model the server sees (an alias resolved)
  std::string requested_model;    // the model the client named
  std::string extra_head;         // extra response header lines, e.g. X-Model-Fallback, x-ratelimit-*
  tenancy::Caller caller;         // the API key the request came with (key_check.h); empty without auth
  tenancy::Admission admission;   // what the key's limits granted it
  ErrorReply error;                // the error answer being sent
  std::string attempt_error;      // why the last attempt on a server failed
  std::string last_error;         // what the 502 says when no server could take the request
  balancing::TriedSet tried;      // servers tried (pool indices), for the balancer
  http1::Gather gather;                  // the current write to a peer
  observability::RequestRecord record;
  observability::UsageTap usage_tap;
  std::string tap_out;            // bytes to forward when the tap removes an injected usage event
  bool usage_injected = false;    // the client did not ask for usage; the gateway did
  balancing::PromptChain prompt;  // the prompt's block chain, for cache_aware
  balancing::QueueCharge* charge = nullptr;  // the attempt's, released at the first token
  runtime::RequestEdits edits;    // what the route's middlewares change (only read when it has some)
};

class Session {
 public:
  enum class State : std::uint8_t {
    idle, reading_head, head_read, reading_body, request_read, at_server, lingering, closing
  };

  Session(net::Socket socket, Worker& worker, const std::string& entry_point);
  net::Task<void> run();

 private:
  net::Task<bool> accept_tls(std::chrono::milliseconds timeout);
  // session.cpp: one request/response exchange; false when the connection must close afterwards.
  net::Task<bool> serve_one();
  net::Task<bool> serve_routed(WorkerRoutes& routes, const runtime::EntryPointRuntime& ep);
  net::Task<bool> forward_keyed(const runtime::Snapshot& snap, const runtime::EntryPointRuntime& ep,
                                const runtime::Route& route, WorkerRoutes& routes, bool keep_alive,
                                RouteQuery& query);
  // Reads the body for routing and takes its model into the view; false when the request was
  // answered instead (`keep_alive` then says whether the connection goes on).
  net::Task<bool> read_routing_body(const runtime::Snapshot& snap, const runtime::EntryPointRuntime& ep,
                                    bool& keep_alive, ModelField& field, bool& form);
  // Sends x_->error.
  net::Task<bool> reply_error(bool keep_alive);
  net::Task<bool> reply_body(int status, std::string_view content_type, std::string_view body, bool keep_alive);
  net::Task<bool> write_client(std::string_view bytes, std::chrono::milliseconds timeout);
  // The whole request (head and body) has been read.
  bool request_read() const { return state_ == State::request_read || state_ == State::at_server; }

  // request_body.cpp. The request's body bytes arrive first with its head (in in_, from
  // body_pos_ on), then from reads into x_->body_in, each within timeouts.readBody.
  // How reading a body ended: the client's fault unless ok (failed: it went away).
  enum class BodyRead { ok, too_large, malformed, timed_out, failed };
  net::Task<BodyRead> read_whole_body(std::size_t limit);  // into x_->body (limit: maxBodyBytes)
  // Answers a body that could not be read (413, 400, 408; nothing to a client that left); false.
  net::Task<bool> refuse_body(BodyRead why);
  // The usual case without a coroutine: a Content-Length body within `limit` that came whole
  // with its head is copied into x_->body; false leaves everything to read_whole_body.
  bool body_arrived(std::size_t limit);
  std::string_view pending_body_bytes() const;
  void take_body_bytes(std::size_t n);
  net::Task<boost::system::error_code> read_body_bytes();  // more into x_->body_in; sets body_fault_
  net::Task<boost::system::error_code> send_continue_once();
  void end_request_bytes();  // the request is over: what follows it in the input stays for the next

  // middleware_run.cpp: true when the request goes on to be forwarded; otherwise it was answered
  // (`keep_alive` then says whether the connection goes on).
  net::Task<bool> run_middlewares(const runtime::MiddlewareChain& chain, bool& keep_alive);
  net::Task<bool> ask_auth(const config::Middleware& m, runtime::MiddlewareReply& reply);
  net::Task<bool> reply_middleware(const runtime::MiddlewareReply& r, bool keep_alive);

  // forward.cpp
  struct Exchange;  // one request's forwarding state across attempts
  struct Attempt;   // how one try on one server ended
  net::Task<bool> forward(const runtime::EntryPointRuntime& ep, const runtime::Route& route, WorkerRoutes& routes, bool body_buffered);
  net::Task<bool> pick_and_try(Exchange& x, const runtime::ServerSet* allowed);
  // upstream_exchange.cpp
  Attempt failed(int kind, std::string why);
  net::Task<Attempt> attempt(Exchange& x, balancing::ServerState& server, bool may_retry);
  net::Task<boost::system::error_code> connect(UpstreamConnection& conn, balancing::ServerState& server);
  net::Task<std::string> tls_handshake(UpstreamConnection& conn, balancing::ServerState& server,
                                       const runtime::ServiceRuntime& service);
  net::Task<boost::system::error_code> send_request(Exchange& x, UpstreamConnection& conn);
  net::Task<boost::system::error_code> read_response_head(Exchange& x, UpstreamConnection& conn, bool& got_any);
  void set_upstream(UpstreamConnection* conn);
  // relay.cpp
  net::Task<bool> relay_response(Exchange& x, std::unique_ptr<UpstreamConnection>& conn);

  // An answer within a tick or two needs no hang-up watch: it starts when watch_due_ fires.
  static void on_watch_due(void* self);

  // After an answer sent before the request was read whole: drain what the client still sends.
  net::Task<void> linger();

  void begin_record();
  void finish_record();
  static void on_deadline(void* self);

  // Where the request body's next bytes are read: behind its head in in_, or (once that is used
  // up and more must be read) into x_->body_in, so that the head's views into in_ stay valid.
  enum class BodyBytes : std::uint8_t { in_input, in_body_buffer };

  net::Stream client_;  // TLS on an entry point with http.tls (handshake in run())
  Worker& worker_;
  const std::string& entry_point_;  // owned by the worker's listener
  net::Deadline deadline_;
  net::Deadline watch_due_;
  net::ReadBuffer in_;
  HangupWatch watch_;  // after client_ and in_: it goes first, orphaning a pending read's handler
  routing::IpAddress client_ip_;
  std::string client_ip_text_;
  UpstreamConnection* upstream_ = nullptr;  // the connection of the current attempt
  std::unique_ptr<ExchangeState> x_;        // lent by the worker while a request is served

  std::chrono::steady_clock::time_point started_;
  State state_ = State::idle;
  BodyBytes body_bytes_ = BodyBytes::in_input;
  std::size_t body_pos_ = 0;     // offset in in_ of the request body bytes not yet taken
  std::chrono::milliseconds body_timeout_{};  // timeouts.readBody of the entry point
  std::size_t max_body_bytes_ = 0;            // limits.maxBodyBytes of the entry point
  BodyRead body_fault_ = BodyRead::ok;  // why a streamed body stopped, when the client is to blame
  std::string_view original_host_;
};

// One request's forwarding state across attempts (forward.cpp, relay.cpp).
struct Session::Exchange {
  using Clock = std::chrono::steady_clock;
  using ms = std::chrono::milliseconds;

  const runtime::EntryPointRuntime& ep;
  const runtime::Route& route;
  const runtime::ServiceRuntime& service;
  balancing::Pool& pool;
  http1::Framing framing;
  const std::uint64_t key_hash = 0;  // for strategies that hash a request key
  bool body_buffered = false;
  bool body_consumed = false;  // part of a streamed body went out: no other server can get it
  Clock::time_point deadline = Clock::time_point::max();
  int attempts = 0;

  // A timeout cut to what is left of timeouts.total.
  ms clamp(ms d) const {
    if (deadline == Clock::time_point::max()) return d;
    const auto left = std::chrono::duration_cast<ms>(deadline - Clock::now());
    return std::max(ms(1), std::min(d, left));
  }
  bool expired() const { return Clock::now() >= deadline; }
};

struct Session::Attempt {
  enum Kind { answered, connect_failed, retryable, final } kind = final;
  bool keep_alive = false;  // for answered and final: the client connection may continue
};

// The size of each read of an upstream response, and the end of a chunked body.
inline constexpr std::size_t kResponseRead = 16 * 1024;
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace modelgate::proxy
