// Zero-allocation HTTP/1.1 message heads and chunked bodies (RFC 9112).
//
// Every request head and every upstream response head goes through here, so the parser only
// produces views into the caller's buffer: one pass, a fixed array of fields, no allocation.
//
// It is deliberately stricter than "be liberal in what you accept". A proxy that frames a message
// differently from the server behind it is a request-smuggling hole (RFC 9112 §6.3, §11.2), so
// anything ambiguous is refused rather than guessed at: bare LF or CR, obs-fold, whitespace
// before the colon, differing Content-Length values, a Transfer-Encoding that does not end in
// chunked (requests) or comes with Content-Length.
//
// A head usually arrives in one read. When it does not, resume_request goes on from the last
// complete line (and from the last byte searched for the next line's end), so a head trickled in
// many reads costs time linear in its size, not in size times reads. parse_response keeps no
// state: call it again with the whole buffer. ChunkedDecoder keeps the little state a body needs
// across reads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http1/field.h"

namespace modelgate::http1 {


// Empty lines (CRLF) skipped before a request line (RFC 9112 §2.2); one more is bad.
inline constexpr std::size_t kMaxLeadingEmptyLines = 4;

enum class Body : std::uint8_t { none, length, chunked, until_close };

struct Limits {
  std::size_t max_head_bytes = 32768;
  std::size_t max_fields = 100;  // capped at kMaxFields
};

// too_large: the head is larger than max_head_bytes (even if incomplete so far) or has more than
//            max_fields fields: answer 431.
// bad: malformed or ambiguous framing: answer 400; `error` says why (a static string).
enum class Status : std::uint8_t { complete, incomplete, bad, too_large };

// Where the parse of a request head stopped, for resume_request.
struct HeadProgress {
  const char* base = nullptr;   // buf.data() of the last call
  std::size_t line_start = 0;   // offset of the first line not yet complete
  std::size_t searched = 0;     // offset up to which the buffer was searched for its end
  std::size_t empty_lines = 0;  // empty lines skipped before the request line
  bool request_line = false;    // the request line is parsed
  bool incomplete = false;      // the last call returned Status::incomplete
  std::size_t scanned = 0;      // bytes searched for line ends since the head began (the work done)
};

struct RequestHead {
  std::string_view method, target;
  int version = 11;  // 10 or 11
  std::array<Field, kMaxFields> fields;
  std::size_t field_count = 0;
  std::size_t head_size = 0;         // bytes from the start of the buffer (with skipped empty lines)
                                     // to the end of the final CRLF CRLF: the body starts there
  Body body = Body::none;            // none, length or chunked (requests never until_close)
  std::uint64_t content_length = 0;  // when body == length (Content-Length: 0 is length, 0)
  bool keep_alive = true;            // from version + Connection tokens (close / keep-alive)
  bool expect_continue = false;      // Expect: 100-continue (case-insensitive)
  std::string_view host;             // the first Host value ("" if none)
  std::size_t host_count = 0;        // the caller enforces "exactly one Host" for HTTP/1.1
  std::string_view connection;       // the first Connection value; keep_alive considers all
  const char* error = "";            // for Status::bad / too_large
  HeadProgress progress;

  std::span<const Field> headers() const { return {fields.data(), field_count}; }
  std::string_view get(std::string_view name) const;  // first field of that name, case-insensitive
};
// A new head: `buf` holds its bytes so far, from its first.
Status parse_request(std::string_view buf, RequestHead& out, const Limits& limits);
// The same head with more bytes: after Status::incomplete, goes on where the last call on `out`
// stopped. The bytes given before must be unchanged; if they moved (buf.data() differs from the
// last call) the parse starts over, which a buffer that doubles when it grows does O(log size)
// times, so the total work stays linear. Calling it after any other status starts a new head.
Status resume_request(std::string_view buf, RequestHead& out, const Limits& limits);

struct ResponseHead {
  int status = 0;  // 100..599
  std::string_view reason;
  int version = 11;
  std::array<Field, kMaxFields> fields;
  std::size_t field_count = 0;
  std::size_t head_size = 0;
  Body body = Body::none;            // none (1xx/204/304, or a HEAD request), length, chunked,
                                     // until_close (no Content-Length, no chunked)
  std::uint64_t content_length = 0;  // the Content-Length when present without Transfer-Encoding
  bool keep_alive = true;            // version + Connection; until_close or CL+TE => false
  std::string_view content_type, content_encoding, connection;  // first values
  const char* error = "";

  std::span<const Field> headers() const { return {fields.data(), field_count}; }
  std::string_view get(std::string_view name) const;
};
// head_request: the request was HEAD (the response has no body whatever its headers say).
Status parse_response(std::string_view buf, ResponseHead& out, const Limits& limits, bool head_request);

// Incremental chunked transfer-coding decoder (RFC 9112 §7.1). Feed it the bytes received; each
// call consumes some framing and returns at most one piece of body data (a view into `in`).
// A chunk-size line or trailer line is consumed only once its CRLF has arrived.
class ChunkedDecoder {
 public:
  static constexpr std::size_t kMaxSizeLine = 4096;       // chunk-size line with extensions and CRLF
  static constexpr std::size_t kMaxTrailerBytes = 16384;  // trailer section with its final CRLF

  struct Step {
    std::size_t consumed = 0;  // bytes of `in` used by this step (framing + data)
    std::string_view data;     // body bytes found (may be empty)
    bool done = false;         // the last chunk and trailer section were consumed
    bool bad = false;          // malformed framing
  };
  // Call again with the unconsumed rest until consumed == 0 (needs more input) or done / bad.
  Step next(std::string_view in);
  void reset();
  bool done() const { return state_ == State::done; }

 private:
  enum class State : std::uint8_t { size_line, data, data_crlf, trailer, done, bad };
  std::size_t size_line(std::string_view in);
  std::size_t data_crlf(std::string_view in);
  std::size_t trailer_line(std::string_view in);
  std::size_t fail();

  State state_ = State::size_line;
  std::uint64_t remaining_ = 0;    // data bytes left in the current chunk
  std::size_t trailer_bytes_ = 0;  // trailer section consumed so far
};

}  // namespace modelgate::http1
