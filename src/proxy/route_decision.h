// The routing decision of one request, as a pure function: the request as rules see it and the
// compiled configuration in, the route to forward to or the answer to give out. No sockets, no
// coroutines, no clock, so every rule of docs/routing.md is unit-tested without a connection.
//
// The body is read only when the decision needs it (a router with a Model matcher is reached, or
// the matched service discovers its models): the decision then says `need_body`, the session
// reads the body, fills the view's model (read_body_model below) and asks again, going on from
// the router where it stopped. A request is thus never made to wait for a body that no rule reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/errors.h"
#include "proxy/model_field.h"
#include "routing/rule.h"
#include "runtime/snapshot.h"

namespace modelgate::proxy {

struct RouteQuery {
  const runtime::Snapshot& snapshot;
  const runtime::EntryPointRuntime& entry_point;
  std::string_view entry_point_name;  // for messages
  const routing::RequestView& view;   // view.model_state: not_read until the body was read
  // Once the body was read (view.model_state != not_read): how its model field was found, and
  // whether it was empty or a multipart form.
  ModelField model_field = ModelField::missing;
  bool body_empty = true;
  bool form = false;
  std::size_t first_route = 0;  // the router to start from (RouteDecision::next_route of need_body)
  const tenancy::Key* key = nullptr;  // the caller's API key: the model list shows only its models
};

struct RouteDecision {
  enum class Kind : std::uint8_t {
    forward,     // forward to `route`
    ping,        // answer 200 "OK" (the ping path)
    model_list,  // answer the gateway's own /v1/models or /v1/models/{id}: `body`
    need_body,   // read the body and its model, then decide again from `next_route`
    refuse,      // answer `error`
  };
  using enum Kind;
  Kind kind = refuse;
  const runtime::Route* route = nullptr;
  std::size_t next_route = 0;
  ErrorReply error;
  std::string body;  // model_list: the JSON to answer
};

RouteDecision decide_route(const RouteQuery& query);

// A method whose request normally carries a body (routing by model expects one).
bool sends_body(std::string_view method);

// The model of a body that was read, as routing sees it. `model` gets the model the server is to
// see (an alias of the `models:` section resolved to its target, the body rewritten to name it),
// `requested` the model the client named. `form` is the boundary of a multipart/form-data body
// (empty for JSON). False when the request is refused: `error` then holds the 400 to answer.
struct BodyModel {
  ModelField field = ModelField::missing;
  bool refused = false;  // `error` holds the answer
};
BodyModel read_body_model(const runtime::Snapshot& snapshot, std::string& body, std::string_view form,
                          std::string& model, std::string& requested, ErrorReply& error);

}  // namespace modelgate::proxy
