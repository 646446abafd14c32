// One finished request, as the proxy saw it: the single input of the metrics and the access log.
//
// The fields own their text (std::string, not std::string_view). The access log hands a record to
// a writer thread that formats it later, after the session has moved on to the next request and
// reused the buffers a view would point into (the parser's target, the body holding the model).
// Owning strings cost nothing per request in the steady state: the session keeps one record and
// assigns into it (assign() reuses the capacity), and the access log copies it into a pre-sized
// ring slot whose strings also keep their capacity. Short values (method, model, router names)
// stay inside the small-string buffer anyway.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace modelgate::observability {

struct RequestRecord {
  using Duration = std::chrono::nanoseconds;

  std::chrono::system_clock::time_point time{};  // when the request header was received
  std::string client;                            // client address, "203.0.113.7" or "2001:db8::1"
  std::string method;                            // "POST"
  std::string path;                              // request target as sent (path and query)
  int status = 0;                                // status sent to the client
  std::uint64_t bytes_in = 0;                    // request body bytes read from the client
  std::uint64_t bytes_out = 0;                   // response body bytes sent to the client
  Duration duration{};                           // header received → last byte sent

  std::string upstream;  // url of the server that answered; empty when none did
  std::string router;    // empty when no router matched
  std::string service;
  std::string model;     // the request's "model"; empty when the body was not read or had none
  std::string key;       // the name of the API key the request came with; empty without auth
  bool stream = false;   // the response was a Server-Sent-Events stream

  std::optional<Duration> ttfb;  // header received → first response byte from the upstream
  std::optional<Duration> ttft;  // header received → first SSE data event (streams only)
  std::optional<std::uint64_t> prompt_tokens;
  std::optional<std::uint64_t> completion_tokens;

  unsigned attempts = 0;  // servers tried (1 when the first one answered; 0 when none was tried)
  unsigned worker = 0;    // index of the worker thread that served the request
};

}  // namespace modelgate::observability
