// See route_decision.h. The order of the checks is the order of docs/proxy.md "A request": the
// ping path, the gateway's own model list, then the routers from the highest priority down.
#include "proxy/route_decision.h"

#include <fmt/format.h>

#include "proxy/request_model.h"
#include "runtime/catalogue.h"

namespace modelgate::proxy {

bool sends_body(std::string_view method) { return method == "POST" || method == "PUT" || method == "PATCH"; }

namespace {

// No router matched: what the client is told depends on what its body said about the model.
ErrorReply no_route(const RouteQuery& q) {
  const auto& view = q.view;
  if (view.model_state == routing::ModelState::present) {
    return ErrorReply{404, "model_not_found",
                      fmt::format("The model `{}` is not served by this gateway. Available models: {}", view.model,
                                  runtime::model_names(q.snapshot, q.entry_point.rule_models))};
  }
  if (view.model_state == routing::ModelState::absent && !q.body_empty) {
    if (q.model_field == ModelField::not_json) {
      return ErrorReply{400, "invalid_json",
                        "the request body is not a JSON object; routing by model needs "
                        "a JSON body with a \"model\" field"};
    }
    return ErrorReply{400, "missing_model",
                      q.form ? "the multipart/form-data body has no \"model\" part; name the model to use"
                             : "the JSON body has no string \"model\" field; name the model to use"};
  }
  if (view.model_state == routing::ModelState::absent && sends_body(view.method)) {
    return ErrorReply{400, "missing_model",
                      "this request has no JSON body with a \"model\" field; routing by "
                      "model needs one"};
  }
  return ErrorReply{404, "route_not_found",
                    fmt::format("no router on entry point \"{}\" matches {} {}", q.entry_point_name, view.method,
                                view.path)};
}

RouteDecision decided(RouteDecision::Kind kind, const runtime::Route* route = nullptr, std::size_t next = 0) {
  RouteDecision d;
  d.kind = kind;
  d.route = route;
  d.next_route = next;
  return d;
}

}  // namespace

RouteDecision decide_route(const RouteQuery& q) {
  const auto& view = q.view;
  const auto& ep = q.entry_point;
  const auto& snap = q.snapshot;
  const bool get = view.method == "GET";
  if (ep.ping && view.path == ep.ping_path && (get || view.method == "HEAD")) return decided(RouteDecision::ping);
  if (get && view.path.starts_with("/v1/models")) {
    // GET /v1/models and /v1/models/{id}: one catalogue for every server behind the gateway, as if
    // it were one model server (runtime/catalogue.h), unless a router claims those paths.
    if (auto answer = runtime::answer_model_request(snap, ep, view.path, balancing::steady_now_ns(), q.key)) {
      if (answer->status != 200) {
        RouteDecision d = decided(RouteDecision::refuse);
        d.error = ErrorReply{404, "model_not_found", std::move(answer->body)};
        return d;
      }
      RouteDecision d = decided(RouteDecision::model_list);
      d.body = std::move(answer->body);
      return d;
    }
  }
  const bool body_read = view.model_state != routing::ModelState::not_read;
  for (std::size_t i = q.first_route; i < ep.routes.size(); ++i) {
    const runtime::Route& route = ep.routes[i];
    if (route.rule->needs_model() && !body_read) return decided(RouteDecision::need_body, nullptr, i);
    if (!route.rule->matches(view)) continue;
    // A service that discovers its models picks servers by the model: a request that may name
    // one has its body read first.
    if (!body_read && snap.services[route.service].lb.discoverModels.enabled && sends_body(view.method)) {
      return decided(RouteDecision::need_body, nullptr, i);
    }
    return decided(RouteDecision::forward, &route);
  }
  RouteDecision refused = decided(RouteDecision::refuse);
  refused.error = no_route(q);
  return refused;
}

BodyModel read_body_model(const runtime::Snapshot& snapshot, std::string& body, std::string_view form,
                          std::string& model, std::string& requested, ErrorReply& error) {
  model.clear();
  BodyModel out;
  out.field = read_model(body, form, model, error);
  if (out.field == ModelField::duplicate || out.field == ModelField::bad_form) {
    out.refused = true;
    return out;
  }
  requested = model;
  if (out.field != ModelField::present) return out;
  // An alias names another model: the server sees the target.
  auto alias = snapshot.config.models.find(model);
  if (alias == snapshot.config.models.end() || alias->second.target.empty() || alias->second.target == model) {
    return out;
  }
  if (!form.empty()) {
    error = alias_in_form(model, alias->second.target);
    out.refused = true;
    return out;
  }
  if (replace_model(body, alias->second.target)) model = alias->second.target;
  return out;
}

}  // namespace modelgate::proxy
