// A blocking HTTP/1.1 client for integration tests (Beast over TCP), keeping its connection
// alive between requests. Every call is bounded by the client's timeout and reports failures in
// the result (status 0 and `error`), never by throwing, so a test can assert on what happened.
//
// stream() reads a response piece by piece as it arrives and records, for each SSE event, when
// it arrived relative to the moment the request was written: that is what timing tests assert.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace modelgate::test {

using Millis = std::chrono::duration<double, std::milli>;

struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const;
};
// Response headers by name, any case; repeated headers are joined with ", ".
using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;
// Request headers, in order.
using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 0;  // 0: no response (see error)
  HeaderMap headers;
  std::string body;
  std::string error;  // empty on success
  // The header's value, "" when absent.
  std::string header(std::string_view name) const;
  bool has_header(std::string_view name) const { return headers.contains(name); }
};

struct SseEvent {
  std::string data;  // the event's data (lines after "data: ", joined with \n)
  Millis at{};       // arrival, since the request was written
};

struct StreamResult {
  int status = 0;
  HeaderMap headers;
  Millis headers_at{};  // arrival of the response head, since the request was written
  std::vector<SseEvent> events;
  std::string body;     // the whole (de-chunked) body as received
  bool complete = false;  // the body ended normally
  std::string error;      // why it did not (timeout, closed, ...)
  std::string header(std::string_view name) const;
};

struct StreamOptions {
  std::chrono::milliseconds timeout{30'000};  // for the whole exchange
  // Close the connection (an abrupt client disconnect) once this many events have arrived.
  std::size_t stop_after_events = std::numeric_limits<std::size_t>::max();
};

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void set_timeout(std::chrono::milliseconds timeout) { timeout_ = timeout; }
  // Connects from this local address (e.g. "127.0.0.2": a second client machine on loopback)
  // from the next connection on.
  void set_source(std::string address);

  // One request on the kept-alive connection (opened or re-opened as needed). A Host header is
  // added, and Content-Length when there is a body. A connection the server closed while idle
  // is re-opened once transparently.
  Response request(std::string_view method, std::string_view target, const Headers& headers = {},
                   std::string_view body = {});
  Response get(std::string_view target, const Headers& headers = {}) {
    return request("GET", target, headers);
  }
  Response post_json(std::string_view target, std::string_view json, Headers headers = {});

  // A request whose response is read as it arrives (SSE or any streamed body), always on a
  // fresh connection (a stream is never retried). The connection is closed afterwards unless
  // the response ended cleanly and allows keep-alive.
  StreamResult stream(std::string_view method, std::string_view target, const Headers& headers = {},
                      std::string_view body = {}, StreamOptions options = {});

  void close();  // drops the connection: the server sees the client leave
  bool connected() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::chrono::milliseconds timeout_;
};

// Connects to host:port, writes `bytes` exactly as given, half-closes nothing, and returns
// everything read until the server closes the connection or `timeout` passes. For malformed or
// smuggling-shaped requests that no well-behaved client would send.
std::string raw_exchange(std::uint16_t port, std::string_view bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5),
                         std::string_view host = "127.0.0.1");

struct PacedExchange {
  std::string received;
  std::size_t pieces_written = 0;  // a write the server refused (a reset) stops the writing
  std::string end;                 // how reading ended: "eof", "reset", "timeout", or the error
};

// A slow client: connects, writes `pieces` one after another with `gap` between them, then reads
// until the server closes the connection or `timeout` (from the connect) passes.
PacedExchange raw_exchange_paced(std::uint16_t port, const std::vector<std::string>& pieces,
                                 std::chrono::milliseconds gap,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(5));

}  // namespace modelgate::test
