// One POST to etcd's JSON gateway and its answer read as it arrives, for the client's calls.
//
// The answer of a unary call is one JSON object; that of a streaming call (/v3/watch,
// /v3/lease/keepalive) is one JSON object per line, for as long as the stream lasts, so the body
// is read through a fixed buffer (Beast's buffer_body) and handed out line by line, never held
// whole. A unary answer is read whole up to kMaxAnswer.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "etcd/client.h"
#include "net/asio.h"

namespace modelgate::etcd {

// The largest unary answer read (a range over a large configuration).
inline constexpr std::size_t kMaxAnswer = 64 * 1024 * 1024;

class Post {
 public:
  using Deadline = std::chrono::steady_clock::time_point;

  explicit Post(asio::any_io_executor ex);

  // Connects to `endpoint`, sends `body` to `target` and reads the answer's head, all before
  // `deadline`. false with error() set when that fails; true when a head arrived (see status()).
  awaitable<bool> open(const Endpoint& endpoint, std::string_view target, std::string_view body,
                       Deadline deadline);
  int status() const { return status_; }
  // The next line of the body, waiting until `deadline` (nullopt: as long as it takes); a last
  // line without '\n' counts. false at the end of the body (error() empty) or on failure.
  awaitable<bool> next_line(std::string& line, std::optional<Deadline> deadline);
  // The rest of the body, whole (up to kMaxAnswer), before `deadline`; false on failure.
  awaitable<bool> rest(std::string& body, Deadline deadline);
  // What failed ("connect: Connection refused", "read: timed out after 2000 ms", ...).
  const std::string& error() const { return error_; }

 private:
  // Reads more of the body into pending_; false at its end or on failure.
  awaitable<bool> read_more(std::optional<Deadline> deadline);

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::array<char, 16 * 1024> chunk_{};
  std::string pending_;  // body bytes not handed out yet
  std::chrono::milliseconds timeout_{0};
  std::string error_;
  int status_ = 0;
};

}  // namespace modelgate::etcd
