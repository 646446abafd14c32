// Error answers in the OpenAI shape, so clients and SDKs show a useful message instead of an HTML
// page: {"error":{"message":"...","type":"...","code":"..."}}.
#pragma once

#include <string>
#include <string_view>

namespace modelgate::proxy {

struct ErrorReply {
  int status = 500;
  std::string_view code;  // machine-readable, e.g. "model_not_found"
  std::string message;    // what happened and what to do
};

// The complete HTTP/1.1 response, ready to write; http10: the client spoke HTTP/1.0. `extra_head`:
// more header lines, each ending in CRLF (e.g. a key's x-ratelimit-* fields).
std::string render_error(const ErrorReply& e, bool keep_alive, bool http10, std::string_view extra_head = {});
// The JSON body alone (also used for the SSE error event of a broken stream).
std::string error_json(const ErrorReply& e);

}  // namespace modelgate::proxy
