#include "proxy/errors.h"

#include <fmt/format.h>

#include <boost/beast/http/status.hpp>

#include "http1/head.h"
#include "text/json_escape.h"

namespace modelgate::proxy {

namespace {

using text::append_json_string;

std::string_view type_for(int status) {
  if (status >= 500) return "server_error";
  if (status == 404) return "invalid_request_error";
  return "invalid_request_error";
}

}  // namespace

std::string error_json(const ErrorReply& e) {
  std::string out = "{\"error\":{\"message\":";
  append_json_string(out, e.message);
  out += ",\"type\":";
  append_json_string(out, type_for(e.status));
  out += ",\"code\":";
  append_json_string(out, e.code);
  out += "}}";
  return out;
}

std::string render_error(const ErrorReply& e, bool keep_alive, bool http10, std::string_view extra_head) {
  std::string body = error_json(e);
  auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(e.status));
  return fmt::format("HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}{}\r\n{}",
                     e.status, std::string_view(reason.data(), reason.size()), body.size(), extra_head,
                     http1::connection_field(keep_alive, http10), body);
}

}  // namespace modelgate::proxy
