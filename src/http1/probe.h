// A one-shot HTTP/1.1 GET for the control plane: health checks and model discovery; and a one-shot
// request with a head given whole, for forwardAuth.
//
// One fresh connection per probe, `Connection: close`: probes are rare (seconds apart), so a
// pooled connection would save little and could hide a server that stopped accepting new ones,
// which is exactly what a health check must notice. Every step (resolve, connect, write, read)
// shares one deadline, `timeout`; the body is read whole, up to kMaxProbeBody.
//
// Cancellation: the coroutine honours the cancellation slot of the coroutine that awaits it
// (asio per-operation cancellation), so a caller spawned with a bound cancellation signal can
// abort a probe in flight; the result is then an error ("operation aborted").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include "net/tls.h"

namespace modelgate::http1 {

inline constexpr std::size_t kMaxProbeBody = 1024 * 1024;

struct ProbeResult {
  std::string error;  // empty: a complete response arrived (whatever its status)
  int status = 0;     // 0 when there was no response
  std::string body;   // the response body, at most kMaxProbeBody bytes
  std::vector<std::pair<std::string, std::string>> headers;  // http_request only: the response's fields

  bool ok() const { return error.empty(); }
};

// GET `path` from host:port with `Host: host_header`; over TLS with `tls` (an https:// server,
// verified as the proxy verifies it). `host` is an IP address (IPv6 without
// brackets) or a name, resolved on every call so a DNS change is picked up.
boost::asio::awaitable<ProbeResult> http_get(boost::asio::any_io_executor ex, const std::string& host,
                                             std::uint16_t port, std::string_view host_header,
                                             std::string_view path, std::chrono::milliseconds timeout,
                                             std::shared_ptr<const net::ClientTls> tls = nullptr);

// Sends `head` (a complete request head, which should say `Connection: close`, and no body) to
// host:port and reads the answer with its header fields; forwardAuth's call to an auth service.
boost::asio::awaitable<ProbeResult> http_request(boost::asio::any_io_executor ex, const std::string& host,
                                                 std::uint16_t port, std::string head,
                                                 std::chrono::milliseconds timeout);

// Resolves `host` and connects `stream` to it before `deadline` (and leaves that deadline set on
// the stream); false, with `result.error` saying which step failed, when it cannot. The first
// step of both calls above, for other clients of the control plane (etcd's JSON gateway).
boost::asio::awaitable<bool> open_stream(boost::beast::tcp_stream& stream, const std::string& host,
                                         std::uint16_t port, std::chrono::steady_clock::time_point deadline,
                                         std::chrono::milliseconds timeout, ProbeResult& result);

}  // namespace modelgate::http1
