#include "sim/http_out.h"

#include <iterator>

#include <boost/beast/http/status.hpp>
#include <fmt/format.h>

namespace modelgate::sim::detail {

void append_head(std::string& out, const ResponseHead& h) {
  auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(h.status));
  if (reason.empty() || reason.front() == '<') reason = "Unknown";
  fmt::format_to(std::back_inserter(out), "HTTP/1.1 {} {}\r\nServer: modelgate-sim\r\nX-Served-By: {}\r\n",
                 h.status, std::string_view(reason.data(), reason.size()), h.served_by);
  if (!h.content_type.empty()) {
    out += "Content-Type: ";
    out += h.content_type;
    out += "\r\n";
  }
  if (h.content_length) {
    fmt::format_to(std::back_inserter(out), "Content-Length: {}\r\n", *h.content_length);
  } else {
    out += "Cache-Control: no-cache\r\n";
    if (!h.http10) out += "Transfer-Encoding: chunked\r\n";
  }
  if (!h.keep_alive) {
    out += "Connection: close\r\n";
  } else if (h.http10) {
    out += "Connection: keep-alive\r\n";
  }
  out += "\r\n";
}

void append_chunk(std::string& out, std::string_view data) {
  fmt::format_to(std::back_inserter(out), "{:x}\r\n", data.size());
  out += data;
  out += "\r\n";
}

}  // namespace modelgate::sim::detail
