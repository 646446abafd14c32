// The admin API: AdminServer in-process on 127.0.0.1:0 over an in-memory backend, spoken to by
// a small blocking Beast client; the authorisation rules a loopback socket cannot exercise
// (remote clients, rebinding Host names) go through Api directly; the Sampler with its clocks
// passed in.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <simdjson.h>

#include "admin/admin_server.h"
#include "admin/api.h"
#include "admin/api_json.h"
#include "admin/sampler.h"

namespace ma = modelgate::admin;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

// A small gateway in memory: two services, add/remove/drain change it as the real one would.
class FakeBackend : public ma::AdminBackend {
 public:
  FakeBackend() {
    ma::ServiceInfo chat{"chat", "round_robin", {}, 120.5, 480.0};
    ma::ServerInfo a;
    a.url = "http://10.0.0.1:8000";
    a.requests = 10;
    a.failures = 1;
    a.inflight = 2;
    a.models = {"qwen", "llama"};
    a.ttft_p50_ms = 110;
    a.ttft_p99_ms = 450;
    ma::ServerInfo b;
    b.url = "http://10.0.0.2:8000";
    b.healthy = false;
    b.models = {"qwen"};
    b.last_error = "connect: connection refused";
    chat.servers = {a, b};
    services_.push_back(chat);
    services_.push_back({"embed", "least_request", {}, std::nullopt, std::nullopt});
  }

  std::vector<ma::EntryPointInfo> entry_points() override { return {{"web", "127.0.0.1:8080"}}; }
  std::vector<ma::RouterInfo> routers() override {
    return {{"chat", "PathPrefix(`/v1`) && Model(`qwen`)", "chat", 40, {"web"}},
            {"all", "PathPrefix(`/`)", "embed", 1, {}}};
  }
  std::vector<ma::ServiceInfo> services() override {
    std::lock_guard lock(mutex_);
    return services_;
  }
  modelgate::config::Config config() override {
    modelgate::config::Config c;
    c.admin.token = "super-secret-token";
    modelgate::config::EntryPoint web;
    web.name = "web";
    web.host = "127.0.0.1";
    web.port = 8080;
    c.entryPoints["web"] = web;
    modelgate::config::Service s;
    s.name = "chat";
    s.loadBalancer.servers.push_back({});
    s.loadBalancer.servers.back().url = "http://10.0.0.1:8000";
    s.loadBalancer.healthCheck.enabled = true;
    s.loadBalancer.healthCheck.interval = 500ms;
    c.services["chat"] = s;
    modelgate::config::Router r;
    r.name = "chat";
    r.rule = "PathPrefix(`/v1`)";
    r.service = "chat";
    c.routers["chat"] = r;
    return c;
  }
  ma::StatusInfo status() override {
    ma::StatusInfo s{"0.1.0", 12.5, 2, 3, ma::ReloadInfo{}};
    s.last_reload->time = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
    s.last_reload->ok = false;
    s.last_reload->errors = {"services.chat: unknown strategy"};
    return s;
  }
  std::string metrics() override { return "# TYPE modelgate_requests_total counter\nmodelgate_requests_total 10\n"; }

  ma::MutationResult add_server(std::string_view service, std::string_view url, int weight) override {
    std::lock_guard lock(mutex_);
    last_call_ = fmt::format("add {} {} {}", service, url, weight);
    auto* s = find(service);
    if (!s) return {false, 404, fmt::format("No service `{}`.", service)};
    for (auto& v : s->servers) {
      if (v.url == url) return {false, 409, "Already there."};
    }
    ma::ServerInfo v;
    v.url = url;
    v.weight = weight;
    s->servers.push_back(v);
    return {true, 201, "Added."};
  }
  ma::MutationResult remove_server(std::string_view service, std::string_view url) override {
    std::lock_guard lock(mutex_);
    last_call_ = fmt::format("remove {} {}", service, url);
    auto* s = find(service);
    if (!s) return {false, 404, "No such service."};
    for (auto it = s->servers.begin(); it != s->servers.end(); ++it) {
      if (it->url == url) {
        s->servers.erase(it);
        return {true, 200, "Removed."};
      }
    }
    return {false, 404, fmt::format("No server {} in {}.", url, service)};
  }
  ma::MutationResult drain_server(std::string_view service, std::string_view url) override {
    std::lock_guard lock(mutex_);
    last_call_ = fmt::format("drain {} {}", service, url);
    auto* s = find(service);
    if (!s) return {false, 404, "No such service."};
    for (auto& v : s->servers) {
      if (v.url == url) {
        v.draining = true;
        return {true, 200, "Draining."};
      }
    }
    return {false, 404, fmt::format("No server {} in {}.", url, service)};
  }

  std::string last_call() {
    std::lock_guard lock(mutex_);
    return last_call_;
  }

 private:
  ma::ServiceInfo* find(std::string_view name) {
    for (auto& s : services_) {
      if (s.name == name) return &s;
    }
    return nullptr;
  }

  std::mutex mutex_;
  std::vector<ma::ServiceInfo> services_;
  std::string last_call_;
};

struct Reply {
  int status = 0;
  std::string content_type;
  std::string body;
  http::response<http::string_body> raw;
};

// One request on a fresh connection, bounded by a timeout.
Reply request(std::uint16_t port, http::verb method, std::string target, std::string body = {},
              std::vector<std::pair<std::string, std::string>> headers = {}) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(5s);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, fmt::format("127.0.0.1:{}", port));
  for (auto& [k, v] : headers) req.set(k, v);
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  req.body() = std::move(body);
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  Reply reply;
  http::read(stream, buffer, reply.raw);
  reply.status = reply.raw.result_int();
  reply.content_type = std::string(reply.raw[http::field::content_type]);
  reply.body = reply.raw.body();
  return reply;
}

Reply get(std::uint16_t port, std::string target) { return request(port, http::verb::get, std::move(target)); }

simdjson::dom::element parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  auto error = parser.parse(json).get(doc);
  EXPECT_FALSE(error) << "not JSON: " << json;
  return doc;
}

// The {"error":{message,type,code}} shape, returning the code.
std::string error_code(const std::string& json) {
  simdjson::dom::parser parser;
  auto doc = parse(parser, json);
  std::string_view message, type, code;
  EXPECT_FALSE(doc["error"]["message"].get(message)) << json;
  EXPECT_FALSE(doc["error"]["type"].get(type)) << json;
  EXPECT_FALSE(doc["error"]["code"].get(code)) << json;
  EXPECT_FALSE(message.empty());
  return std::string(code);
}

class AdminServerTest : public ::testing::Test {
 protected:
  void start(std::string token = {}) {
    modelgate::config::Admin admin;
    admin.host = "127.0.0.1";
    admin.port = 0;
    admin.token = std::move(token);
    server_ = std::make_unique<ma::AdminServer>(io_, admin, backend_);
    server_->start();
    port_ = server_->port();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();  // run() returns once every connection is closed
  }

  asio::io_context io_;
  FakeBackend backend_;
  std::unique_ptr<ma::AdminServer> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

const std::string kEncodedB = "http%3A%2F%2F10.0.0.2%3A8000";

}  // namespace

TEST_F(AdminServerTest, ReadRoutesAnswerJson) {
  start();
  ASSERT_NE(port_, 0);
  simdjson::dom::parser parser;

  auto routers = get(port_, "/api/routers");
  EXPECT_EQ(routers.status, 200);
  EXPECT_EQ(routers.content_type, "application/json");
  auto r0 = parse(parser, routers.body).at(0);
  EXPECT_EQ(std::string_view(r0["name"]), "chat");
  EXPECT_EQ(std::string_view(r0["rule"]), "PathPrefix(`/v1`) && Model(`qwen`)");
  EXPECT_EQ(std::string_view(r0["service"]), "chat");
  EXPECT_EQ(int64_t(r0["priority"]), 40);
  EXPECT_EQ(std::string_view(r0["entry_points"].at(0)), "web");

  auto services = get(port_, "/api/services?pretty=1");  // a query string is ignored
  EXPECT_EQ(services.status, 200);
  auto chat = parse(parser, services.body).at(0);
  EXPECT_EQ(std::string_view(chat["strategy"]), "round_robin");
  EXPECT_EQ(int64_t(chat["servers_up"]), 1);
  EXPECT_DOUBLE_EQ(double(chat["ttft_p50_ms"]), 120.5);
  auto a = chat["servers"].at(0);
  EXPECT_EQ(std::string_view(a["url"]), "http://10.0.0.1:8000");
  EXPECT_EQ(std::string_view(a["state"]), "up");
  EXPECT_EQ(int64_t(a["inflight"]), 2);
  EXPECT_EQ(uint64_t(a["requests"]), 10u);
  EXPECT_EQ(uint64_t(a["failures"]), 1u);
  EXPECT_EQ(std::string_view(a["models"].at(1)), "llama");
  EXPECT_TRUE(a["last_error"].is_null());
  EXPECT_DOUBLE_EQ(double(a["ttft_p99_ms"]), 450);
  auto b = chat["servers"].at(1);
  EXPECT_EQ(std::string_view(b["state"]), "down");
  EXPECT_FALSE(bool(b["healthy"]));
  EXPECT_EQ(std::string_view(b["last_error"]), "connect: connection refused");
  EXPECT_TRUE(b["ttft_p50_ms"].error() == simdjson::NO_SUCH_FIELD);  // optional: absent

  auto one = get(port_, "/api/services/embed");
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(std::string_view(parse(parser, one.body)["name"]), "embed");

  auto models = get(port_, "/api/models");
  EXPECT_EQ(models.status, 200);
  auto llama = parse(parser, models.body).at(0);  // sorted by id
  EXPECT_EQ(std::string_view(llama["id"]), "llama");
  EXPECT_EQ(int64_t(llama["healthy"]), 1);
  auto qwen = parse(parser, models.body).at(1);
  EXPECT_EQ(std::string_view(qwen["id"]), "qwen");
  EXPECT_EQ(int64_t(qwen["healthy"]), 1);
  EXPECT_EQ(simdjson::dom::array(qwen["servers"]).size(), 2u);
  EXPECT_EQ(std::string_view(qwen["servers"].at(1)["service"]), "chat");

  auto config = get(port_, "/api/config");
  EXPECT_EQ(config.status, 200);
  EXPECT_EQ(config.body.find("super-secret-token"), std::string::npos) << "the token must never be shown";
  auto c = parse(parser, config.body);
  EXPECT_EQ(std::string_view(c["entryPoints"]["web"]["address"]), "127.0.0.1:8080");
  EXPECT_EQ(std::string_view(c["http"]["routers"]["chat"]["rule"]), "PathPrefix(`/v1`)");
  EXPECT_EQ(std::string_view(c["http"]["services"]["chat"]["loadBalancer"]["healthCheck"]["interval"]), "500ms");
  EXPECT_TRUE(bool(c["admin"]["tokenSet"]));

  auto status = get(port_, "/api/status");
  EXPECT_EQ(status.status, 200);
  auto s = parse(parser, status.body);
  EXPECT_EQ(std::string_view(s["version"]), "0.1.0");
  EXPECT_DOUBLE_EQ(double(s["uptime_seconds"]), 12.5);
  EXPECT_EQ(int64_t(s["workers"]), 2);
  EXPECT_EQ(std::string_view(s["last_reload"]["time"]), "2023-11-14T22:13:20.000Z");
  EXPECT_FALSE(bool(s["last_reload"]["ok"]));
  EXPECT_EQ(std::string_view(s["last_reload"]["errors"].at(0)), "services.chat: unknown strategy");

  auto eps = get(port_, "/api/entrypoints");
  EXPECT_EQ(eps.status, 200);
  auto e0 = parse(parser, eps.body).at(0);
  EXPECT_EQ(std::string_view(e0["name"]), "web");
  EXPECT_EQ(std::string_view(e0["address"]), "127.0.0.1:8080");
}

TEST_F(AdminServerTest, MetricsAreTextExposition) {
  start();
  auto metrics = get(port_, "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("modelgate_requests_total 10"), std::string::npos);
}

TEST_F(AdminServerTest, DashboardAndRedirects) {
  start();
  auto page = get(port_, "/dashboard/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<canvas"), std::string::npos)
      << "the dashboard is not embedded: include cmake/embed.cmake in CMakeLists.txt";
  EXPECT_NE(page.body.find("/api/events"), std::string::npos);
  // Self-contained: no reference to any other host, enforced by the CSP as well.
  EXPECT_EQ(page.body.find("http://"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos);
  EXPECT_EQ(page.body.find("//cdn"), std::string::npos);
  EXPECT_NE(std::string(page.raw["Content-Security-Policy"]).find("default-src 'none'"), std::string::npos);

  auto dashboard = get(port_, "/dashboard");
  EXPECT_EQ(dashboard.status, 301);
  EXPECT_EQ(dashboard.raw[http::field::location], "/dashboard/");
  auto root = get(port_, "/");
  EXPECT_EQ(root.status, 302);
  EXPECT_EQ(root.raw[http::field::location], "/dashboard/");
}

TEST_F(AdminServerTest, UnknownRouteAndWrongMethodAreJsonErrors) {
  start();
  auto missing = get(port_, "/api/nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.content_type, "application/json");
  EXPECT_EQ(error_code(missing.body), "not_found");
  EXPECT_NE(missing.body.find("/api/services"), std::string::npos) << "the message lists what exists";

  auto no_service = get(port_, "/api/services/nope");
  EXPECT_EQ(no_service.status, 404);
  EXPECT_EQ(error_code(no_service.body), "not_found");

  auto wrong = request(port_, http::verb::post, "/api/routers", "{}");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.raw[http::field::allow], "GET");
  EXPECT_EQ(error_code(wrong.body), "method_not_allowed");
}

TEST_F(AdminServerTest, LoopbackMayChangeWithoutToken) {
  start();
  simdjson::dom::parser parser;
  auto added = request(port_, http::verb::post, "/api/services/chat/servers",
                       R"({"url": "http://10.0.0.3:8000", "weight": 5})");
  EXPECT_EQ(added.status, 201) << added.body;
  EXPECT_EQ(backend_.last_call(), "add chat http://10.0.0.3:8000 5");
  auto doc = parse(parser, added.body);
  EXPECT_TRUE(bool(doc["ok"]));
  EXPECT_EQ(simdjson::dom::array(doc["service"]["servers"]).size(), 3u);

  auto again = request(port_, http::verb::post, "/api/services/chat/servers", R"({"url": "http://10.0.0.3:8000"})");
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(error_code(again.body), "conflict");

  auto weightless = request(port_, http::verb::post, "/api/services/embed/servers", R"({"url": "http://10.0.0.9:1"})");
  EXPECT_EQ(weightless.status, 201);
  EXPECT_EQ(backend_.last_call(), "add embed http://10.0.0.9:1 1");
}

TEST_F(AdminServerTest, ServerUrlIsPercentDecoded) {
  start();
  auto drained = request(port_, http::verb::put, "/api/services/chat/servers/" + kEncodedB + "/drain");
  EXPECT_EQ(drained.status, 200) << drained.body;
  EXPECT_EQ(backend_.last_call(), "drain chat http://10.0.0.2:8000");
  EXPECT_NE(drained.body.find(R"("draining":true)"), std::string::npos);

  auto removed = request(port_, http::verb::delete_, "/api/services/chat/servers/" + kEncodedB);
  EXPECT_EQ(removed.status, 200) << removed.body;
  EXPECT_EQ(backend_.last_call(), "remove chat http://10.0.0.2:8000");

  auto gone = request(port_, http::verb::delete_, "/api/services/chat/servers/" + kEncodedB);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(error_code(gone.body), "not_found");

  // Lower-case hex, and an unencoded url (everything after /servers/) work too.
  request(port_, http::verb::put, "/api/services/chat/servers/http%3a%2f%2f10.0.0.1%3a8000/drain");
  EXPECT_EQ(backend_.last_call(), "drain chat http://10.0.0.1:8000");
  request(port_, http::verb::delete_, "/api/services/chat/servers/http://10.0.0.1:8000");
  EXPECT_EQ(backend_.last_call(), "remove chat http://10.0.0.1:8000");

  auto bad = request(port_, http::verb::delete_, "/api/services/chat/servers/http%3G");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(error_code(bad.body), "invalid_request");

  auto wrong_method = request(port_, http::verb::post, "/api/services/chat/servers/" + kEncodedB + "/drain");
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.raw[http::field::allow], "PUT");
}

TEST_F(AdminServerTest, BadBodiesSayWhatToSend) {
  start();
  for (std::string body : {"not json", "[1]", R"({"weight": 2})", R"({"url": 5})",
                           R"({"url": "http://a:1", "weight": -1})", R"({"url": "http://a:1", "wieght": 2})"}) {
    auto r = request(port_, http::verb::post, "/api/services/chat/servers", body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(error_code(r.body), "invalid_body") << body;
  }
  auto none = request(port_, http::verb::post, "/api/services/nope/servers", R"({"url": "http://a:1"})");
  EXPECT_EQ(none.status, 404);
}

TEST_F(AdminServerTest, TokenIsRequiredWhenSet) {
  start("s3cret");
  const std::string target = "/api/services/chat/servers/" + kEncodedB + "/drain";
  auto without = request(port_, http::verb::put, target);
  EXPECT_EQ(without.status, 401);
  EXPECT_EQ(error_code(without.body), "missing_token");
  EXPECT_NE(std::string(without.raw[http::field::www_authenticate]).find("Bearer"), std::string::npos);

  auto wrong = request(port_, http::verb::put, target, {}, {{"Authorization", "Bearer s3creT"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(error_code(wrong.body), "invalid_token");
  auto longer = request(port_, http::verb::put, target, {}, {{"Authorization", "Bearer s3cret2"}});
  EXPECT_EQ(longer.status, 401);
  auto basic = request(port_, http::verb::put, target, {}, {{"Authorization", "Basic s3cret"}});
  EXPECT_EQ(basic.status, 401);
  EXPECT_EQ(backend_.last_call(), "") << "a refused call never reaches the backend";

  auto right = request(port_, http::verb::put, target, {}, {{"Authorization", "bearer s3cret"}});
  EXPECT_EQ(right.status, 200) << right.body;
  EXPECT_EQ(backend_.last_call(), "drain chat http://10.0.0.2:8000");

  // Reads need no token.
  EXPECT_EQ(get(port_, "/api/services").status, 200);
}

TEST_F(AdminServerTest, CrossOriginChangeIsRefused) {
  start();
  auto r = request(port_, http::verb::delete_, "/api/services/chat/servers/" + kEncodedB, {},
                   {{"Origin", "http://evil.example"}});
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(error_code(r.body), "cross_origin");
  auto same = request(port_, http::verb::delete_, "/api/services/chat/servers/" + kEncodedB, {},
                      {{"Origin", fmt::format("http://127.0.0.1:{}", port_)}});
  EXPECT_EQ(same.status, 200) << same.body;
}

TEST_F(AdminServerTest, EventsStreamHistoryAndSnapshots) {
  start();
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_after(10s);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  std::string req = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
  asio::write(stream, asio::buffer(req));
  std::string got;
  char buf[4096];
  // The head, the history, and two snapshots (the second one a second after the first).
  auto count = [&](std::string_view what) {
    std::size_t n = 0;
    for (auto pos = got.find(what); pos != std::string::npos; pos = got.find(what, pos + 1)) ++n;
    return n;
  };
  while (count("event: snapshot\ndata: ") < 2) {
    boost::system::error_code ec;
    auto n = stream.socket().read_some(asio::buffer(buf), ec);
    ASSERT_FALSE(ec) << ec.message() << "\n" << got;
    got.append(buf, n);
  }
  EXPECT_TRUE(got.starts_with("HTTP/1.1 200 OK\r\n"));
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos);
  EXPECT_NE(got.find("event: history\ndata: {\"interval_ms\":1000,\"points\":["), std::string::npos);
  auto pos = got.rfind("event: snapshot\ndata: ");
  auto line = got.substr(pos + 22, got.find('\n', pos + 22) - pos - 22);
  simdjson::dom::parser parser;
  auto snap = parse(parser, line);
  EXPECT_EQ(int64_t(snap["totals"]["servers"]), 2);
  EXPECT_EQ(int64_t(snap["totals"]["servers_down"]), 1);
  EXPECT_EQ(std::string_view(snap["services"].at(0)["servers"].at(1)["state"]), "down");
  EXPECT_TRUE(snap["services"].at(0)["servers"].at(0)["rps"].is_number());
  EXPECT_EQ(std::string_view(snap["status"]["version"]), "0.1.0");
}

TEST_F(AdminServerTest, StopClosesOpenConnections) {
  start();
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  std::string req = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  asio::write(stream, asio::buffer(req));
  boost::system::error_code ec;
  char buf[4096];
  std::string got;
  stream.expires_after(5s);
  while (!ec && got.find("event: history") == std::string::npos) {
    got.append(buf, stream.socket().read_some(asio::buffer(buf), ec));
  }
  ASSERT_FALSE(ec) << ec.message();
  server_->stop();
  thread_.join();  // returns only once every connection and timer is gone
  while (!ec) stream.socket().read_some(asio::buffer(buf), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST(AdminServerStart, BindFailureNamesTheAddressAndTheFix) {
  asio::io_context io;
  tcp::acceptor taken(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  FakeBackend backend;
  modelgate::config::Admin admin;
  admin.port = taken.local_endpoint().port();
  ma::AdminServer server(io, admin, backend);
  try {
    server.start();
    FAIL() << "bound a port that is taken";
  } catch (const std::runtime_error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find(fmt::format("127.0.0.1:{}", admin.port)), std::string::npos) << what;
    EXPECT_NE(what.find("admin.address"), std::string::npos) << what;
  }
}

// Rules a loopback socket cannot exercise.
TEST(AdminApi, WithoutTokenOnlyLoopbackWithLiteralHostMayChange) {
  FakeBackend backend;
  ma::Api api(backend, "");
  ma::Request req{http::verb::put, "/api/services/chat/servers/" + kEncodedB + "/drain", 11};
  req.set(http::field::host, "10.1.2.3:9090");
  auto remote = api.handle(req, asio::ip::make_address("10.9.9.9"));
  EXPECT_EQ(remote.status, 403);
  EXPECT_EQ(error_code(remote.body), "loopback_only");
  EXPECT_NE(remote.body.find("admin.token"), std::string::npos) << "says how to allow it";
  EXPECT_EQ(api.handle(req, asio::ip::make_address("::ffff:10.9.9.9")).status, 403);

  for (const char* loopback : {"127.0.0.1", "127.8.9.1", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_EQ(api.handle(req, asio::ip::make_address(loopback)).status, 200) << loopback;
  }
  // A DNS name that could have been rebound to 127.0.0.1 by a web page.
  req.set(http::field::host, "attacker.example:9090");
  auto rebound = api.handle(req, asio::ip::make_address("127.0.0.1"));
  EXPECT_EQ(rebound.status, 403);
  EXPECT_EQ(error_code(rebound.body), "host_not_allowed");
  for (const char* host : {"localhost:9090", "[::1]:9090", "127.0.0.1"}) {
    req.set(http::field::host, host);
    EXPECT_EQ(api.handle(req, asio::ip::make_address("127.0.0.1")).status, 200) << host;
  }
}

TEST(AdminApi, WithTokenRemoteClientsMayChange) {
  FakeBackend backend;
  ma::Api api(backend, "tok");
  ma::Request req{http::verb::put, "/api/services/chat/servers/" + kEncodedB + "/drain", 11};
  req.set(http::field::host, "gateway.internal:9090");
  req.set(http::field::authorization, "Bearer tok");
  EXPECT_EQ(api.handle(req, asio::ip::make_address("10.9.9.9")).status, 200);
}

TEST(AdminApi, Helpers) {
  EXPECT_TRUE(ma::constant_time_equal("abc", "abc"));
  EXPECT_FALSE(ma::constant_time_equal("abd", "abc"));
  EXPECT_FALSE(ma::constant_time_equal("ab", "abc"));
  EXPECT_FALSE(ma::constant_time_equal("abcd", "abc"));
  EXPECT_FALSE(ma::constant_time_equal("", "abc"));
  EXPECT_EQ(ma::percent_decode("a%2Fb%3a+c"), "a/b:+c");
  EXPECT_EQ(ma::percent_decode("%"), std::nullopt);
  EXPECT_EQ(ma::percent_decode("%4"), std::nullopt);
  EXPECT_EQ(ma::percent_decode("%zz"), std::nullopt);
  EXPECT_EQ(ma::duration_text(500ms), "500ms");
  EXPECT_EQ(ma::duration_text(10s), "10s");
  EXPECT_EQ(ma::duration_text(2min), "2m");
  EXPECT_EQ(ma::duration_text(0ms), "0ms");
}

TEST(AdminJson, EscapesStrings) {
  ma::JsonWriter w;
  w.begin_object().field("s", std::string_view("a\"b\\c\nd\x01")).field("n", 1.0 / 0.0).end_object();
  EXPECT_EQ(w.str(), R"({"s":"a\"b\\c\nd\u0001","n":null})");
}

TEST(Sampler, RatesFromCountersAndBoundedHistory) {
  ma::Sampler sampler(3);
  ma::ServiceInfo s{"chat", "round_robin", {}, std::nullopt, std::nullopt};
  ma::ServerInfo v;
  v.url = "http://a:1";
  s.servers = {v};
  ma::StatusInfo status{"0.1.0", 1, 1, 1, std::nullopt};
  const auto t0 = std::chrono::steady_clock::time_point{};
  const auto wall = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));

  sampler.record(t0, wall, {s}, status);
  EXPECT_EQ(sampler.sequence(), 1u);
  s.servers[0].requests = 20;
  s.servers[0].failures = 4;
  sampler.record(t0 + 2s, wall + 2s, {s}, status);

  simdjson::dom::parser parser;
  auto snap = parse(parser, sampler.snapshot_json());
  EXPECT_DOUBLE_EQ(double(snap["totals"]["rps"]), 10);
  EXPECT_DOUBLE_EQ(double(snap["totals"]["eps"]), 2);
  EXPECT_DOUBLE_EQ(double(snap["services"].at(0)["servers"].at(0)["rps"]), 10);
  EXPECT_EQ(int64_t(snap["time_ms"]), 1700000002000);

  s.servers[0].requests = 5;  // a new server state: counters restarted, no negative rate
  sampler.record(t0 + 3s, wall + 3s, {s}, status);
  sampler.record(t0 + 4s, wall + 4s, {s}, status);
  auto history = parse(parser, sampler.history_json());
  auto points = simdjson::dom::array(history["points"]);
  EXPECT_EQ(points.size(), 3u);  // capacity
  EXPECT_EQ(int64_t(history["points"].at(0).at(0)), 1700000002000);
  EXPECT_DOUBLE_EQ(double(history["points"].at(0).at(1)), 10);
  EXPECT_DOUBLE_EQ(double(history["points"].at(1).at(1)), 0);
}

TEST(Sampler, AServerInTwoServicesIsOneMachineInTheTotals) {
  ma::Sampler sampler(3);
  ma::ServerInfo a, b;
  a.url = "http://a:1";
  b.url = "http://b:1";
  b.healthy = false;
  ma::ServiceInfo pool{"pool", "round_robin", {a, b}, std::nullopt, std::nullopt};
  ma::ServiceInfo spare{"spare", "round_robin", {b}, std::nullopt, std::nullopt};
  ma::StatusInfo status{"0.1.0", 1, 1, 1, std::nullopt};
  sampler.record(std::chrono::steady_clock::time_point{}, std::chrono::system_clock::time_point{},
                 {pool, spare}, status);
  simdjson::dom::parser parser;
  auto snap = parse(parser, sampler.snapshot_json());
  EXPECT_EQ(int64_t(snap["totals"]["servers"]), 2);
  EXPECT_EQ(int64_t(snap["totals"]["servers_up"]), 1);
  EXPECT_EQ(int64_t(snap["totals"]["servers_down"]), 1);
}
