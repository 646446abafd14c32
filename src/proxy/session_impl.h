// Internals of a client session, shared by session.cpp (reading and routing), request_body.cpp
// (the request body) and forward.cpp (the trip to the upstream and back).
//
// A session keeps only what an idle keep-alive connection needs: its socket, its deadline and a
// small input buffer. Everything a request needs while it is served (the parsed heads, the output
// head, the body read whole, the usage tap, the access-log record) is an ExchangeState lent by the
// worker for the length of one exchange.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "observability/request_record.h"
#include "observability/usage_tap.h"
#include "net/deadline.h"
#include "proxy/errors.h"
#include "http1/gather.h"
#include "http1/parser.h"
#include "http1/head.h"
#include "net/io.h"
#include "net/read_buffer.h"
#include "runtime/snapshot.h"
#include "proxy/worker.h"
#include "routing/rule.h"

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
  std::string extra_head;         // extra response header lines, e.g. X-Model-Fallback
  ErrorReply error;                // the error answer being sent
  std::string attempt_error;      // why the last attempt on a server failed
  std::string last_error;         // what the 502 says when no server could take the request
  balancing::TriedSet tried;      // servers tried (pool indices), for the balancer
  http1::Gather gather;                  // the current write to a peer
  observability::RequestRecord record;
  observability::UsageTap usage_tap;
  std::string tap_out;            // bytes to forward when the tap removes an injected usage event
  balancing::PromptChain prompt;  // the prompt's block chain, for cache_aware
};

class Session {
 public:
  Session(net::Socket socket, Worker& worker, const std::string& entry_point);
  net::Task<void> run();

 private:
  // One request/response exchange; false when the connection must close afterwards.
  net::Task<bool> serve_one();
  // Sends x_->error.
  net::Task<bool> reply_error(bool keep_alive);
  net::Task<bool> reply_body(int status, std::string_view content_type, std::string_view body, bool keep_alive);
  net::Task<bool> write_client(std::string_view bytes, std::chrono::milliseconds timeout);

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

  // forward.cpp
  struct Exchange;  // one request's forwarding state across attempts
  struct Attempt;   // how one try on one server ended
  net::Task<bool> forward(const runtime::EntryPointRuntime& ep, const runtime::Route& route, WorkerRoutes& routes, bool body_buffered);
  Attempt failed(int kind, std::string why);
  net::Task<Attempt> attempt(Exchange& x, balancing::ServerState& server, bool may_retry);
  net::Task<boost::system::error_code> connect(UpstreamConnection& conn, balancing::ServerState& server);
  net::Task<boost::system::error_code> send_request(Exchange& x, UpstreamConnection& conn);
  net::Task<bool> relay_response(Exchange& x, std::unique_ptr<UpstreamConnection>& conn);

  // While the server works, a read on the client connection notices a hang-up and closes the
  // upstream connection at once, so the model server stops generating for nobody. It reads into
  // the free end of the input buffer: bytes of a pipelined next request are kept, not lost.
  // An answer within a tick or two needs no watch: it starts when watch_due_ fires.
  void start_watch();
  net::Task<void> stop_watch();
  static void on_watch_due(void* self);

  // After an answer sent before the request was read whole: drain what the client still sends.
  net::Task<void> linger();

  void begin_record();
  void finish_record();
  static void on_deadline(void* self);

  net::Socket client_;
  Worker& worker_;
  const std::string& entry_point_;  // owned by the worker's listener
  net::Deadline deadline_;
  net::Deadline watch_due_;
  net::ReadBuffer in_;
  routing::IpAddress client_ip_;
  std::string client_ip_text_;
  UpstreamConnection* upstream_ = nullptr;  // the connection of the current attempt
  std::unique_ptr<ExchangeState> x_;        // lent by the worker while a request is served

  std::chrono::steady_clock::time_point started_;
  std::size_t body_pos_ = 0;     // offset in in_ of the request body bytes not yet taken
  std::chrono::milliseconds body_timeout_{};  // timeouts.readBody of the entry point
  std::size_t max_body_bytes_ = 0;            // limits.maxBodyBytes of the entry point
  BodyRead body_fault_ = BodyRead::ok;  // why a streamed body stopped, when the client is to blame
  bool linger_ = false;          // the connection closes with request bytes possibly unread
  bool body_in_used_ = false;    // this request's body continued past in_ into x_->body_in
  bool request_done_ = false;    // the whole request (head and body) has been read
  bool continue_sent_ = false;
  bool usage_injected_ = false;  // the client did not ask for usage; the gateway did
  bool awaiting_response_ = false;  // between the request sent and the answer relayed
  bool watching_ = false;
  bool watch_into_body_in_ = false;
  bool client_gone_ = false;
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
