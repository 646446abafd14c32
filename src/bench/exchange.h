// One streamed chat completion as the load client sees it: a fresh connection, the request, and
// the server-sent events read as they arrive, with the times a user would feel.
//
// TTFT is measured to the first event that carries content (not to the response head or the role
// delta), TPOT is the time from the first to the last content event divided by the tokens after
// the first, end-to-end runs to the end of the body. Usage (prompt, completion and cached tokens)
// comes from the stream's usage event (`stream_options.include_usage`); the serving server from
// `X-Served-By`, else the chunks' `system_fingerprint`.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/address.hpp>

namespace modelgate::bench {

struct Target {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  std::string path = "/v1/chat/completions";
};

struct ExchangeResult {
  bool ok = false;
  std::string error;       // why not ok: "connect: ...", "status 503", "no content", ...
  int status = 0;
  double ttft_ms = 0;      // to the first content event
  double tpot_ms = -1;     // -1: fewer than two content events
  double e2e_ms = 0;
  int content_events = 0;
  std::int64_t prompt_tokens = -1;      // -1: the answer reported no usage
  std::int64_t completion_tokens = -1;
  std::int64_t cached_tokens = -1;      // -1: no prompt_tokens_details.cached_tokens
  std::string server;                   // X-Served-By or system_fingerprint
  std::string content;                  // the answer's text, for the next turn's history
};

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// POSTs `body` (a JSON chat request with "stream": true) to `target` and reads the stream to its
// end, all within `timeout`. A non-loopback `source` is not checked: it is the caller's address
// to bind (any address of 127.0.0.0/8 on Linux), unspecified for the default.
boost::asio::awaitable<ExchangeResult> stream_chat(const Target& target, const std::string& body,
                                                   const HeaderList& headers,
                                                   boost::asio::ip::address source,
                                                   std::chrono::milliseconds timeout);

}  // namespace modelgate::bench
