// The admin API as a function from a request to a response: routing, authorisation, body
// parsing and JSON, with no sockets, so that every rule can be tested directly. AdminServer
// (admin_server.h) does the transport and the one streamed endpoint, GET /api/events.
//
// Authorisation of changes (POST, PUT, DELETE):
// - admin.token set: `Authorization: Bearer <token>` is required (401 otherwise); the token is
//   compared in constant time, so response timing does not reveal how much of a guess matched.
// - no token: only loopback clients may change anything (403 otherwise), and only with a Host
//   that is an IP literal or "localhost" — a web page that rebinds its own DNS name to 127.0.0.1
//   (DNS rebinding) then cannot reach the API from a browser.
// - either way, a browser request whose Origin differs from its Host is refused (403): a page
//   on another site cannot make a same-machine browser POST to the admin API (CSRF).
// Reads need no authorisation: they show no secret (the token is never output).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "admin/admin_backend.h"

namespace modelgate::admin {

using Request = boost::beast::http::request<boost::beast::http::string_body>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // Location, Allow, WWW-Authenticate
};

class Api {
 public:
  Api(AdminBackend& backend, std::string token) : backend_(backend), token_(std::move(token)) {}

  Response handle(const Request& request, const boost::asio::ip::address& client);

  // The streamed endpoint, served by the transport itself.
  static bool is_event_stream(const Request& request);

 private:
  Response route(const Request& request, std::string_view path, const boost::asio::ip::address& client);
  Response services_route(const Request& request, std::string_view rest,
                          const boost::asio::ip::address& client);
  // keys_api.cpp: POST /api/keys, DELETE /api/keys/{name}.
  Response keys_route(const Request& request, std::string_view path, const boost::asio::ip::address& client);
  // An error response when the request may not change anything, nullopt when it may.
  std::optional<Response> refuse_change(const Request& request, const boost::asio::ip::address& client);
  Response mutation_response(const MutationResult& result, std::string_view service);

  AdminBackend& backend_;
  const std::string token_;
};

// Helpers, public for tests.
bool constant_time_equal(std::string_view a, std::string_view b);
bool is_loopback(const boost::asio::ip::address& address);
// RFC 3986 §2.1 percent-decoding of a path segment ('+' stays '+'); nullopt on a bad escape.
std::optional<std::string> percent_decode(std::string_view s);
Response error_response(int status, std::string_view message, std::string_view code = {});
Response method_not_allowed(std::string_view method, std::string_view path, std::string_view allow);

}  // namespace modelgate::admin
