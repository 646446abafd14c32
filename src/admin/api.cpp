#include "admin/api.h"

#include <charconv>
#include <optional>
#include <variant>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include "admin/api_json.h"
#include "admin/json_writer.h"
#include "admin/readiness.h"

#if __has_include("admin/dashboard_html.h")
#include "admin/dashboard_html.h"  // generated from src/admin/dashboard.html by cmake/embed.cmake
#else
namespace modelgate::admin {
// The build did not embed the dashboard (cmake/embed.cmake is not included by CMakeLists.txt).
inline constexpr std::string_view kDashboardHtml =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>modelgate</title></head>"
    "<body><p>This modelgate binary was built without its dashboard: include cmake/embed.cmake "
    "in CMakeLists.txt. The JSON API is at <a href=\"/api/services\">/api/services</a>.</p>"
    "</body></html>";
}  // namespace modelgate::admin
#endif

namespace modelgate::admin {

namespace http = boost::beast::http;

namespace {

constexpr std::string_view kJson = "application/json";
constexpr std::string_view kMetricsType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kEndpoints =
    "GET /api/routers, /api/services, /api/tcp/routers, /api/tcp/services, /api/models, /api/config, /api/status, /api/entrypoints, "
    "/api/events, /metrics and /dashboard/ (changes: /api/services/..., /api/keys)";

std::string_view error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string_view default_code(int status) {
  switch (status) {
    case 400: return "invalid_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 409: return "conflict";
    default: return status >= 500 ? "internal_error" : "invalid_request";
  }
}

Response json(std::string body, int status = 200) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

Response redirect(int status, std::string location) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = "See " + location + "\n";
  r.headers.emplace_back("Location", std::move(location));
  return r;
}

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The host part of a Host header or of an Origin's authority: "[::1]:9090" -> "::1".
std::string_view host_part(std::string_view authority) {
  if (authority.starts_with('[')) {
    auto end = authority.find(']');
    return end == std::string_view::npos ? authority : authority.substr(1, end - 1);
  }
  auto colon = authority.rfind(':');
  return colon == std::string_view::npos ? authority : authority.substr(0, colon);
}

// A name a rebinding attacker cannot control: an IP literal or "localhost".
bool literal_host(std::string_view host_header) {
  auto host = host_part(host_header);
  if (ieq(host, "localhost")) return true;
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(host), ec);
  return !ec;
}

struct AddServerBody {
  std::string url;
  int weight = 1;
};

// {"url": "http://host:port", "weight": N}; weight is optional (1).
std::variant<AddServerBody, std::string> parse_add_server(const std::string& body) {
  constexpr std::string_view example = R"(; send {"url": "http://10.0.0.5:8000", "weight": 1})";
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(body).get(doc)) return fmt::format("The body is not valid JSON{}.", example);
  simdjson::dom::object object;
  if (doc.get(object)) return fmt::format("The body must be a JSON object{}.", example);
  AddServerBody out;
  bool have_url = false;
  for (auto [key, value] : object) {
    if (key == "url") {
      std::string_view url;
      if (value.get(url) || url.empty()) return fmt::format("`url` must be a non-empty string{}.", example);
      out.url = url;
      have_url = true;
    } else if (key == "weight") {
      std::int64_t weight = 0;
      if (value.get(weight) || weight < 0 || weight > 1'000'000) {
        return "`weight` must be an integer from 0 to 1000000.";
      }
      out.weight = static_cast<int>(weight);
    } else {
      return fmt::format("Unknown field `{}`: the body takes `url` and `weight`.", key);
    }
  }
  if (!have_url) return fmt::format("`url` is missing{}.", example);
  return out;
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) {
  // Time depends on b's length only (the secret's length is not secret, its bytes are).
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < b.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

bool is_loopback(const boost::asio::ip::address& address) {
  if (address.is_v4()) return address.to_v4().is_loopback();
  const auto v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).is_loopback();
  }
  return v6.is_loopback();
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    unsigned v = 0;
    if (i + 2 >= s.size()) return std::nullopt;
    auto [end, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
    if (ec != std::errc() || end != s.data() + i + 3) return std::nullopt;
    out += static_cast<char>(v);
    i += 2;
  }
  return out;
}

Response method_not_allowed(std::string_view method, std::string_view path, std::string_view allow) {
  auto r = error_response(
      405, fmt::format("{} is not supported on {}; use {}.", method, path, allow), "method_not_allowed");
  r.headers.emplace_back("Allow", std::string(allow));
  return r;
}

Response error_response(int status, std::string_view message, std::string_view code) {
  return json(error_json(message, error_type(status), code.empty() ? default_code(status) : code),
              status);
}

bool Api::is_event_stream(const Request& request) {
  std::string_view target = request.target();
  return request.method() == http::verb::get && target.substr(0, target.find('?')) == "/api/events";
}

Response Api::handle(const Request& request, const boost::asio::ip::address& client) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  try {
    return route(request, path, client);
  } catch (const std::exception& e) {
    return error_response(500, fmt::format("The admin API failed on {}: {}. The gateway itself keeps "
                                           "running; see its log for details.", path, e.what()));
  }
}

Response Api::route(const Request& request, std::string_view path,
                    const boost::asio::ip::address& client) {
  const auto method = request.method();
  const bool get = method == http::verb::get;
  const std::string_view method_name = request.method_string();

  if (path == "/") return get ? redirect(302, "/dashboard/") : method_not_allowed(method_name, path, "GET");
  if (path == "/dashboard") {
    return get ? redirect(301, "/dashboard/") : method_not_allowed(method_name, path, "GET");
  }
  if (path == "/dashboard/") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = kDashboardHtml;
    // The page needs nothing from anywhere else; say so, so that a browser enforces it.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
                           "img-src 'self' data:; connect-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'");
    r.headers.emplace_back("X-Frame-Options", "DENY");
    return r;
  }
  if (path == "/ready") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    const auto status = backend_.status();
    // TCP services count as services: a gateway whose TCP servers are all down cannot serve either.
    auto services = backend_.services();
    for (const auto& tcp : backend_.tcp_services()) {
      ServiceInfo info{tcp.name, tcp.strategy, {}, std::nullopt, std::nullopt};
      for (const auto& s : tcp.servers) {
        ServerInfo server;
        server.url = s.address;
        server.healthy = s.healthy;
        server.draining = s.draining;
        info.servers.push_back(std::move(server));
      }
      services.push_back(std::move(info));
    }
    const auto verdict = readiness(status, backend_.entry_points(), services);
    return json(readiness_json(verdict, status), verdict.ready ? 200 : 503);
  }
  if (path == "/metrics") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    Response r;
    r.content_type = kMetricsType;
    r.body = backend_.metrics();
    return r;
  }

  if (path == "/api/keys" || path.starts_with("/api/keys/")) return keys_route(request, path, client);

  constexpr std::string_view services_prefix = "/api/services/";
  if (path.starts_with(services_prefix)) {
    return services_route(request, path.substr(services_prefix.size()), client);
  }

  JsonWriter w;
  if (path == "/api/routers") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_routers(w, backend_.routers());
  } else if (path == "/api/services") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_services(w, backend_.services());
  } else if (path == "/api/tcp/routers") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_routers(w, backend_.tcp_routers());
  } else if (path == "/api/tcp/services") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_tcp_services(w, backend_.tcp_services());
  } else if (path == "/api/models") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_models(w, models_from(backend_.services()));
  } else if (path == "/api/config") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_config(w, backend_.config());
  } else if (path == "/api/status") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_status(w, backend_.status());
  } else if (path == "/api/entrypoints") {
    if (!get) return method_not_allowed(method_name, path, "GET");
    write_entry_points(w, backend_.entry_points());
  } else if (path == "/api/events") {
    return method_not_allowed(method_name, path, "GET");
  } else {
    return error_response(404, fmt::format("Unknown path {}. The admin API serves {}.", path, kEndpoints));
  }
  return json(w.take());
}

// rest: "{name}", "{name}/servers", "{name}/servers/{url}", "{name}/servers/{url}/drain".
// The url should be percent-encoded (one path segment) but an unencoded one works too: it is
// everything after "/servers/".
Response Api::services_route(const Request& request, std::string_view rest,
                             const boost::asio::ip::address& client) {
  const auto method = request.method();
  const std::string_view method_name = request.method_string();
  const std::string_view path = request.target().substr(0, request.target().find('?'));

  const auto slash = rest.find('/');
  auto service = percent_decode(rest.substr(0, slash));
  if (!service || service->empty()) {
    return error_response(400, fmt::format("Bad service name in {}: percent-encode it (RFC 3986).", path));
  }
  const std::string_view tail = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);

  if (tail.empty() || tail == "/") {
    if (method != http::verb::get) return method_not_allowed(method_name, path, "GET");
    for (const auto& s : backend_.services()) {
      if (s.name == *service) {
        JsonWriter w;
        write_service(w, s);
        return json(w.take());
      }
    }
    return error_response(404, fmt::format("No service named `{}`; GET /api/services lists them.", *service));
  }

  if (tail == "/servers") {
    if (method != http::verb::post) return method_not_allowed(method_name, path, "POST");
    if (auto refused = refuse_change(request, client)) return std::move(*refused);
    auto body = parse_add_server(request.body());
    if (auto* message = std::get_if<std::string>(&body)) return error_response(400, *message, "invalid_body");
    const auto& add = std::get<AddServerBody>(body);
    return mutation_response(backend_.add_server(*service, add.url, add.weight), *service);
  }

  constexpr std::string_view servers = "/servers/";
  if (!tail.starts_with(servers) || tail.size() == servers.size()) {
    return error_response(404, fmt::format("Unknown path {}. Server calls are POST "
                                           "/api/services/{{name}}/servers, DELETE "
                                           "/api/services/{{name}}/servers/{{url}} and PUT "
                                           "/api/services/{{name}}/servers/{{url}}/drain.",
                                           path));
  }
  std::string_view encoded_url = tail.substr(servers.size());
  constexpr std::string_view drain = "/drain";
  const bool is_drain = encoded_url.ends_with(drain) && encoded_url.size() > drain.size();
  if (is_drain) encoded_url.remove_suffix(drain.size());
  if (is_drain ? method != http::verb::put : method != http::verb::delete_) {
    return method_not_allowed(method_name, path, is_drain ? "PUT" : "DELETE");
  }
  auto url = percent_decode(encoded_url);
  if (!url || url->empty()) {
    return error_response(400, fmt::format("Bad server url in {}: percent-encode it, e.g. "
                                           "http%3A%2F%2F10.0.0.5%3A8000.", path));
  }
  if (auto refused = refuse_change(request, client)) return std::move(*refused);
  return mutation_response(is_drain ? backend_.drain_server(*service, *url)
                                    : backend_.remove_server(*service, *url),
                           *service);
}

std::optional<Response> Api::refuse_change(const Request& request,
                                           const boost::asio::ip::address& client) {
  const std::string_view origin = request[http::field::origin];
  if (!origin.empty()) {
    const auto scheme_end = origin.find("://");
    const std::string_view authority =
        scheme_end == std::string_view::npos ? origin : origin.substr(scheme_end + 3);
    if (!ieq(authority, request[http::field::host])) {
      return error_response(403, fmt::format("Cross-origin change refused: a page from {} may not "
                                             "change the balancer. Call the API directly (curl) or "
                                             "from the dashboard's own origin.", origin),
                            "cross_origin");
    }
  }
  if (!token_.empty()) {
    const std::string_view auth = request[http::field::authorization];
    constexpr std::string_view bearer = "bearer ";
    if (auth.size() < bearer.size() || !ieq(auth.substr(0, bearer.size()), bearer)) {
      Response r = error_response(401, "This call changes the balancer: send the admin token as "
                                       "`Authorization: Bearer <admin.token>`.", "missing_token");
      r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="modelgate admin")");
      return r;
    }
    std::string_view presented = auth.substr(bearer.size());
    while (!presented.empty() && presented.front() == ' ') presented.remove_prefix(1);
    while (!presented.empty() && presented.back() == ' ') presented.remove_suffix(1);
    if (!constant_time_equal(presented, token_)) {
      Response r = error_response(401, "The bearer token does not match admin.token in the "
                                       "gateway's configuration.", "invalid_token");
      r.headers.emplace_back("WWW-Authenticate", R"(Bearer realm="modelgate admin", error="invalid_token")");
      return r;
    }
    return std::nullopt;
  }
  if (!is_loopback(client)) {
    return error_response(403, fmt::format("admin.token is not set, so changes are accepted from "
                                           "loopback clients only (this one is {}). Set admin.token "
                                           "in the configuration and send `Authorization: Bearer "
                                           "<token>`, or call from the gateway's own host.",
                                           client.to_string()),
                          "loopback_only");
  }
  if (!literal_host(request[http::field::host])) {
    return error_response(403, "admin.token is not set, so changes must address the API by IP "
                               "(Host: 127.0.0.1:PORT) or as localhost. Set admin.token to call "
                               "it by another name.",
                          "host_not_allowed");
  }
  return std::nullopt;
}

Response Api::mutation_response(const MutationResult& result, std::string_view service) {
  if (!result.ok) {
    const int status = result.status >= 400 ? result.status : 500;
    return error_response(status, result.message);
  }
  JsonWriter w;
  w.begin_object().field("ok", true).field("message", result.message);
  for (const auto& s : backend_.services()) {
    if (s.name == service) {
      w.key("service");
      write_service(w, s);
      break;
    }
  }
  w.end_object();
  return json(w.take(), result.status >= 200 && result.status < 300 ? result.status : 200);
}

}  // namespace modelgate::admin
