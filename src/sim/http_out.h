// Serialising responses by hand: a status line and a handful of headers are cheaper to append
// to a reused string than to build as a beast::http::response, and the sim never needs more.
// Bodies are either Content-Length or chunked (RFC 9112 §7.1); an HTTP/1.0 client gets a
// streamed body delimited by closing the connection instead.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace modelgate::sim::detail {

inline constexpr std::string_view kJson = "application/json";
inline constexpr std::string_view kEventStream = "text/event-stream";

struct ResponseHead {
  int status = 200;
  std::string_view served_by;
  std::string_view content_type;           // empty: no Content-Type (204)
  std::optional<std::size_t> content_length;  // nullopt: chunked (or close-delimited on 1.0)
  bool keep_alive = true;
  bool http10 = false;
};

void append_head(std::string& out, const ResponseHead& head);

// One chunk of a chunked body: "<hex size>\r\n<data>\r\n".
void append_chunk(std::string& out, std::string_view data);
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace modelgate::sim::detail
