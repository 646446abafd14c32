// Internals of a client session, shared by session.cpp (reading and routing) and forward.cpp (the
// trip to the upstream and back).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "observability/request_record.h"
#include "observability/usage_tap.h"
#include "proxy/asio.h"
#include "proxy/errors.h"
#include "proxy/http_head.h"
#include "proxy/snapshot.h"
#include "proxy/worker.h"
#include "routing/rule.h"

namespace modelgate::proxy {

using RequestParser = http::request_parser<http::buffer_body>;
using ResponseParser = http::response_parser<http::buffer_body>;

class Session {
 public:
  Session(tcp::socket socket, Worker& worker, std::string entry_point);
  awaitable<void> run();

 private:
  // One request/response exchange; false when the connection must close afterwards.
  awaitable<bool> serve_one();
  awaitable<bool> reply_error(const ErrorReply& e, bool keep_alive);
  awaitable<bool> reply_text(int status, std::string_view body, bool keep_alive);
  awaitable<bool> reply_body(int status, std::string_view content_type, std::string_view body,
                             bool keep_alive);

  enum class BodyRead { ok, too_large, failed };
  // Reads the whole request body into body_ (limit: maxBodyBytes).
  awaitable<BodyRead> read_whole_body(std::size_t limit);
  awaitable<beast::error_code> send_continue_once();

  // forward.cpp
  struct Exchange;  // one request's forwarding state across attempts
  struct Attempt;   // how one try on one server ended
  awaitable<bool> forward(const EntryPointRuntime& ep, const Route& route, WorkerRoutes& routes,
                          bool body_buffered);
  awaitable<Attempt> attempt(Exchange& x, balancing::ServerState& server, bool may_retry);
  awaitable<beast::error_code> send_request(Exchange& x, UpstreamConnection& conn);
  awaitable<bool> relay_response(Exchange& x, std::unique_ptr<UpstreamConnection>& conn, ResponseParser& rp);

  beast::tcp_stream client_;
  beast::flat_buffer in_;
  Worker& worker_;
  std::string entry_point_;
  routing::IpAddress client_ip_;
  std::string client_ip_text_;

  std::optional<RequestParser> parser_;  // fresh per message (RFC 9112 framing state is per message)
  std::vector<routing::HeaderField> fields_;
  routing::RequestView view_;    // the current request as rules and hash keys see it
  std::string head_;             // reused output buffer for message heads
  std::string body_;             // reused buffer for a request body read whole
  std::string model_;            // the model the server sees (an alias resolved)
  std::string requested_model_;  // the model the client named
  std::string extra_head_;       // extra response header lines, e.g. X-Model-Fallback
  std::string_view original_host_;
  bool continue_sent_ = false;

  // Observability: what the access log and metrics learn of the current request.
  observability::RequestRecord record_;
  std::chrono::steady_clock::time_point started_;
  observability::UsageTap usage_tap_;
  std::string tap_out_;          // the bytes to forward when the tap removes an injected usage event
  bool usage_injected_ = false;  // the client did not ask for usage; the gateway did
  void begin_record();
  void finish_record();
};

}  // namespace modelgate::proxy
