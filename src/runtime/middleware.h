// Middlewares compiled for a router: the list of steps a request passes before it is forwarded
// (docs/middlewares.md). Built once per snapshot from the loader's config::Middleware (chains
// flattened in place, stateful kinds bound to their kept state: middleware_state.h); a router
// without middlewares has none, and the session's only cost is the null check.
//
// Each step reads the request as it is so far (its path after earlier rewrites) and either lets
// it go on, having recorded what it changes in RequestEdits (the path; request and response header
// fields), or answers it (MiddlewareReply: 401, 403, 429, a redirect). forwardAuth needs a round
// trip to the auth service, which the proxy makes (proxy/middleware_run.cpp); here it only says so.
// Nothing here blocks or locks; only basicAuth's bcrypt is slow, by design.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/middleware.h"
#include "http1/field_edits.h"
#include "http1/parser.h"
#include "routing/ip_net.h"
#include "runtime/middleware_state.h"

namespace modelgate::runtime {

struct MiddlewareStep {
  std::shared_ptr<const config::Middleware> spec;
  std::shared_ptr<MiddlewareState> state;  // rateLimit, inFlightReq
};

struct MiddlewareChain {
  std::vector<MiddlewareStep> steps;
  bool edits_response = false;  // some step sets response header fields
};

// What a request looks like to the steps.
struct MiddlewareRequest {
  const http1::RequestHead& head;
  std::string_view path;   // the target up to '?'
  std::string_view query;  // after '?', "" when none
  std::string_view host;   // the Host header as sent
  const routing::IpAddress& peer;
  std::int64_t now_ns = 0;  // steady clock
  bool tls = false;         // the request came over TLS (an entry point with http.tls)
};

// What the steps did to a request, applied when it is forwarded (and its answer relayed).
// Reused from request to request (capacities kept).
struct RequestEdits {
  std::string path;          // the rewritten path, when path_set
  bool path_set = false;
  std::string target;        // path + '?' + query, built by finish()
  http1::FieldEdits request;
  http1::FieldEdits response;
  std::vector<std::atomic<std::int64_t>*> in_flight;  // counters to give back at the end
  std::string user;          // basicAuth's user

  void reset();
  void release();  // gives back the in-flight counters; called when the request is over
  // The target to send when the path was rewritten ("" otherwise: the request's own).
  std::string_view finish(std::string_view query);
};

// An answer a step gives instead of forwarding.
struct MiddlewareReply {
  int status = 0;
  std::string_view code;   // for the OpenAI-shaped error body; "" for a redirect (no body)
  std::string message;
  std::string head_lines;  // complete "Name: value\r\n" lines (WWW-Authenticate, Retry-After, Location)
};

enum class StepResult : std::uint8_t { next, reply, ask_auth };

// Runs one step (forwardAuth: returns ask_auth, the caller asks the service).
StepResult run_step(const MiddlewareStep& step, const MiddlewareRequest& req, RequestEdits& edits,
                    MiddlewareReply& reply);

// Builds the chain of a router's middlewares (chains flattened); nullptr when there is none. As
// in Traefik, each router has its own counters: a rateLimit two routers name limits each apart.
std::shared_ptr<const MiddlewareChain> compile_middlewares(const std::string& router,
                                                           const std::vector<std::string>& names,
                                                           const std::map<std::string, config::Middleware>& defs,
                                                           MiddlewareStates& states);

// The address a request comes from under an ipStrategy: the peer, or one of X-Forwarded-For.
// false when X-Forwarded-For has no such entry (or it is not an address).
bool source_address(const config::IpStrategy& strategy, const MiddlewareRequest& req, routing::IpAddress& out);

}  // namespace modelgate::runtime
