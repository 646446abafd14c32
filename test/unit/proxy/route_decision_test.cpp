// The routing decision without sockets: a request view and a compiled configuration in, a route
// or the error answer out (docs/routing.md, docs/proxy.md "A request").
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/loader.h"
#include "proxy/route_decision.h"
#include "runtime/snapshot.h"

namespace modelgate::proxy {
namespace {

// One entry point `web`, services a and b (one server each), the routers given, and `top` lines.
std::shared_ptr<const runtime::Snapshot> compile(const std::string& routers, const std::string& top = "") {
  const std::string yaml = top +
                           "entryPoints:\n  web:\n    address: \"127.0.0.1:0\"\n"
                           "http:\n  routers:\n" +
                           routers +
                           "  services:\n"
                           "    a:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:1\n"
                           "    b:\n      loadBalancer:\n        servers:\n          - url: http://127.0.0.1:2\n";
  auto loaded = config::load_text(yaml, "test.yaml");
  if (!loaded.config) {
    std::string why;
    for (const auto& d : loaded.diagnostics) why += d.str() + "\n";
    throw std::runtime_error("config does not load:\n" + why);
  }
  static runtime::ServerRegistry registry;
  auto built = runtime::build_snapshot(*loaded.config, registry);
  return std::get<std::shared_ptr<const runtime::Snapshot>>(built);
}

struct Request {
  std::string method = "GET";
  std::string host = "gw.example";
  std::string path = "/";
  std::vector<http1::Field> headers;
  routing::RequestView view() const {
    routing::RequestView v;
    v.method = method;
    v.host = host;
    v.path = path;
    v.headers = headers;
    return v;
  }
};

// The decision, reading the body (naming `model`, or none when empty) whenever it is asked for.
struct Decided {
  RouteDecision decision;
  int body_reads = 0;
  std::string service() const {
    return decision.kind == RouteDecision::forward ? std::to_string(decision.route->service) : "-";
  }
};

Decided decide(const runtime::Snapshot& snap, const Request& r, const std::string& model = "",
               ModelField field = ModelField::present) {
  const routing::RequestView base = r.view();
  routing::RequestView view = base;
  RouteQuery q{snap, *snap.entry_point("web"), "web", view};
  Decided out{decide_route(q)};
  while (out.decision.kind == RouteDecision::need_body) {
    ++out.body_reads;
    const bool named = !model.empty() && field == ModelField::present;
    view.model_state = named ? routing::ModelState::present : routing::ModelState::absent;
    view.model = model;
    q.model_field = named ? ModelField::present : field;
    q.body_empty = model.empty() && field == ModelField::missing;
    q.first_route = out.decision.next_route;
    out.decision = decide_route(q);
  }
  return out;
}

const runtime::Route& routed(const Decided& d) {
  if (d.decision.kind != RouteDecision::forward) throw std::runtime_error("not routed: " + d.decision.error.message);
  return *d.decision.route;
}

TEST(RouteDecision, HostPathAndHeaderRules) {
  auto snap = compile(
      "    by-host: {rule: \"Host(`a.example.com`)\", service: a}\n"
      "    by-path: {rule: \"PathPrefix(`/v1`)\", service: b}\n"
      "    by-header: {rule: \"Header(`X-Team`, `red`)\", service: a}\n");
  Request r;
  r.host = "a.example.com";
  r.path = "/x";
  EXPECT_EQ(routed(decide(*snap, r)).name, "by-host");
  r.host = "other";
  r.path = "/v1/chat/completions";
  EXPECT_EQ(routed(decide(*snap, r)).name, "by-path");
  r.path = "/x";
  r.headers = {{"X-Team", "red"}};
  const auto d = decide(*snap, r);
  EXPECT_EQ(routed(d).name, "by-header");
  EXPECT_EQ(d.body_reads, 0) << "no rule reads the model: the body is not needed";
}

TEST(RouteDecision, HighestPriorityFirstAndLongerRulesByDefault) {
  auto snap = compile(
      "    short: {rule: \"PathPrefix(`/`)\", service: a}\n"
      "    longer: {rule: \"PathPrefix(`/v1/`)\", service: b}\n"
      "    forced: {rule: \"Path(`/v1/x`)\", service: a, priority: 1}\n");
  Request r;
  r.path = "/v1/chat";
  EXPECT_EQ(routed(decide(*snap, r)).name, "longer") << "without priority, the longer rule comes first";
  r.path = "/v1/x";
  EXPECT_EQ(routed(decide(*snap, r)).name, "longer") << "priority 1 puts `forced` after both";
  r.path = "/other";
  EXPECT_EQ(routed(decide(*snap, r)).name, "short");
}

TEST(RouteDecision, ModelRulesAskForTheBodyOnlyWhenReached) {
  auto snap = compile(
      "    health: {rule: \"Path(`/health`)\", service: a, priority: 100}\n"
      "    qwen: {rule: \"Model(`qwen`)\", service: a, priority: 50}\n"
      "    glm: {rule: \"ModelRegexp(`^glm`)\", service: b, priority: 40}\n");
  Request r;
  r.path = "/health";
  auto d = decide(*snap, r);
  EXPECT_EQ(routed(d).name, "health");
  EXPECT_EQ(d.body_reads, 0) << "a router before any Model rule matched";

  r.method = "POST";
  r.path = "/v1/chat/completions";
  d = decide(*snap, r, "glm4-9b-chat");
  EXPECT_EQ(routed(d).name, "glm");
  EXPECT_EQ(d.body_reads, 1) << "the body is read once, then routing goes on where it stopped";
  EXPECT_EQ(routed(decide(*snap, r, "qwen")).name, "qwen");
}

TEST(RouteDecision, UnknownModelIs404WithTheModelList) {
  auto snap = compile(
      "    qwen: {rule: \"Model(`qwen`, `qwen-big`)\", service: a}\n"
      "    not-glm: {rule: \"!Model(`glm`) && Path(`/never`)\", service: b}\n");
  Request r;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  const auto d = decide(*snap, r, "gpt-5");
  ASSERT_EQ(d.decision.kind, RouteDecision::refuse);
  EXPECT_EQ(d.decision.error.status, 404);
  EXPECT_EQ(d.decision.error.code, "model_not_found");
  EXPECT_NE(d.decision.error.message.find("`gpt-5`"), std::string::npos) << d.decision.error.message;
  EXPECT_NE(d.decision.error.message.find("qwen, qwen-big"), std::string::npos) << d.decision.error.message;
  EXPECT_EQ(d.decision.error.message.find("glm"), std::string::npos) << "a model under ! is not served";
}

TEST(RouteDecision, BodyWithoutAModelIs400) {
  auto snap = compile("    qwen: {rule: \"Model(`qwen`)\", service: a}\n");
  Request r;
  r.method = "POST";
  r.path = "/v1/chat/completions";
  auto d = decide(*snap, r, "", ModelField::not_json);
  ASSERT_EQ(d.decision.kind, RouteDecision::refuse);
  EXPECT_EQ(d.decision.error.status, 400);
  EXPECT_EQ(d.decision.error.code, "invalid_json");
  d = decide(*snap, r, "", ModelField::missing);
  EXPECT_EQ(d.decision.error.code, "missing_model") << "a POST without a body";
  EXPECT_EQ(d.decision.error.status, 400);
  r.method = "GET";
  d = decide(*snap, r, "", ModelField::missing);
  EXPECT_EQ(d.decision.error.code, "route_not_found") << "a GET is not expected to name a model";
}

TEST(RouteDecision, NoRouteIs404NamingTheEntryPoint) {
  auto snap = compile("    only: {rule: \"Host(`a.example.com`)\", service: a}\n");
  Request r;
  r.method = "DELETE";
  r.path = "/v1/files/1";
  const auto d = decide(*snap, r);
  ASSERT_EQ(d.decision.kind, RouteDecision::refuse);
  EXPECT_EQ(d.decision.error.status, 404);
  EXPECT_EQ(d.decision.error.code, "route_not_found");
  EXPECT_EQ(d.decision.error.message, "no router on entry point \"web\" matches DELETE /v1/files/1");
}

TEST(RouteDecision, PingPathAndTheGatewaysModelList) {
  auto snap = compile("    all: {rule: \"PathPrefix(`/`)\", service: a}\n",
                      "ping: {path: /healthz}\nmodels:\n  gpt-4o-mini: {target: qwen}\n");
  Request r;
  r.path = "/healthz";
  EXPECT_EQ(decide(*snap, r).decision.kind, RouteDecision::ping);
  r.method = "HEAD";
  EXPECT_EQ(decide(*snap, r).decision.kind, RouteDecision::ping);
  r.method = "POST";
  EXPECT_EQ(decide(*snap, r).decision.kind, RouteDecision::forward) << "only GET and HEAD are the ping";
  r.method = "GET";
  r.path = "/v1/models";
  EXPECT_EQ(decide(*snap, r).decision.kind, RouteDecision::model_list) << "with a models: section";
  auto plain = compile("    all: {rule: \"PathPrefix(`/`)\", service: a}\n");
  EXPECT_EQ(decide(*plain, r).decision.kind, RouteDecision::forward) << "without one, servers answer /v1/models";
  auto by_model = compile("    qwen: {rule: \"Model(`qwen`)\", service: a}\n");
  auto listed = decide(*by_model, r);
  ASSERT_EQ(listed.decision.kind, RouteDecision::model_list) << "a Model rule names what the gateway serves";
  EXPECT_NE(listed.decision.body.find(R"("id":"qwen")"), std::string::npos) << listed.decision.body;
  r.path = "/v1/models/llama";
  auto unknown = decide(*by_model, r);
  ASSERT_EQ(unknown.decision.kind, RouteDecision::refuse);
  EXPECT_EQ(unknown.decision.error.status, 404);
  EXPECT_EQ(unknown.decision.error.code, "model_not_found");
}

TEST(RouteDecision, AnAliasIsResolvedToItsTarget) {
  auto snap = compile("    qwen: {rule: \"Model(`qwen`)\", service: a}\n", "models:\n  gpt-4o-mini: {target: qwen}\n");
  std::string body = R"({"model":"gpt-4o-mini","messages":[]})";
  std::string model, requested;
  ErrorReply error;
  const BodyModel found = read_body_model(*snap, body, "", model, requested, error);
  EXPECT_FALSE(found.refused);
  EXPECT_EQ(found.field, ModelField::present);
  EXPECT_EQ(model, "qwen");
  EXPECT_EQ(requested, "gpt-4o-mini");
  EXPECT_NE(body.find("\"qwen\""), std::string::npos) << "the server sees the target: " << body;

  Request r;
  r.method = "POST";
  EXPECT_EQ(routed(decide(*snap, r, model)).name, "qwen");

  std::string form = "--B\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\ngpt-4o-mini\r\n--B--\r\n";
  const BodyModel in_form = read_body_model(*snap, form, "B", model, requested, error);
  EXPECT_TRUE(in_form.refused) << "a form is forwarded unchanged: the alias cannot be replaced";
  EXPECT_EQ(error.code, "alias_not_supported");
}

TEST(RouteDecision, AModelNamedTwiceIsRefused) {
  auto snap = compile("    qwen: {rule: \"Model(`qwen`)\", service: a}\n");
  std::string body = R"({"model":"qwen","model":"glm"})";
  std::string model, requested;
  ErrorReply error;
  const BodyModel found = read_body_model(*snap, body, "", model, requested, error);
  EXPECT_TRUE(found.refused);
  EXPECT_EQ(error.status, 400);
  EXPECT_EQ(error.code, "duplicate_model");
}

}  // namespace
}  // namespace modelgate::proxy
