// Writing the head of a forwarded message.
//
// The proxy never re-sends a header it was given blindly: hop-by-hop fields (RFC 9110 §7.6.1, and
// any field named in Connection) stay on their own hop, framing fields are rewritten to match how
// the body is actually sent, and X-Forwarded-* tell the server who asked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http1/field_edits.h"
#include "http1/parser.h"

namespace modelgate::http1 {

// How a body travels on one hop.
struct Framing {
  enum Kind : std::uint8_t { none, length, chunked, until_close } kind = none;
  std::uint64_t size = 0;  // for kind == length
};

struct UpstreamRequestHead {
  std::string_view host_header;    // Host to send
  std::string_view base_path;      // server URL path prefix, usually ""
  std::string_view client_ip;      // appended to X-Forwarded-For
  std::string_view original_host;  // X-Forwarded-Host
  Framing framing;
  std::string_view target;           // non-empty: sent instead of the request's (a rewritten path)
  const FieldEdits* edits = nullptr;  // fields set or removed by middlewares
  bool tls = false;                   // the client came over TLS: X-Forwarded-Proto: https
};

// Appends "METHOD target HTTP/1.1\r\n...\r\n\r\n" to `out`.
void write_request_head(std::string& out, const http1::RequestHead& req, const UpstreamRequestHead& head);

struct ClientResponseHead {
  Framing framing;
  bool keep_alive = true;
  bool http10 = false;             // client spoke HTTP/1.0
  bool keep_content_length = false;  // a HEAD answer: its Content-Length describes the body it omits
  std::string_view upstream;       // non-empty: add "X-Upstream: <value>"
  std::string_view extra;          // more complete header lines ("Name: value\r\n"), usually ""
  const FieldEdits* edits = nullptr;  // fields set or removed by middlewares
};

// Appends "HTTP/1.1 status reason\r\n...\r\n\r\n" to `out`.
void write_response_head(std::string& out, const http1::ResponseHead& res, const ClientResponseHead& head);

// The Connection field of an answer to the client, with its CRLF: "close" when the connection
// ends after it; "keep-alive" when it stays open for an HTTP/1.0 client, which would otherwise
// take the connection to close (RFC 9112 §9.3) and wait for the end of the answer; else none.
std::string_view connection_field(bool keep_alive, bool http10);

// The standard reason phrase of a status code ("" when unknown).
std::string_view reason_phrase(int status);

// Chunk framing for one piece of a chunked body: "<hex size>\r\n" into `buf`, returns its length.
std::size_t chunk_size_line(char (&buf)[20], std::size_t size);

}  // namespace modelgate::http1
