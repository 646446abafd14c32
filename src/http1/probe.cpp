#include "http1/probe.h"

#include <fmt/format.h>

#include <memory>

#include <boost/beast/ssl.hpp>

#include "net/asio.h"
#include "net/tls.h"

namespace modelgate::http1 {


namespace {

using net::nothrow;

#ifdef MODELGATE_VERSION
constexpr const char* kUserAgent = "modelgate/" MODELGATE_VERSION;
#else
constexpr const char* kUserAgent = "modelgate";
#endif

std::string describe(std::string_view step, const beast::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout || ec == asio::error::timed_out) {
    return fmt::format("{}: timed out after {} ms", step, timeout.count());
  }
  return fmt::format("{}: {}", step, ec.message());
}

// Resolves `host`, giving up at `deadline`. tcp::resolver has no deadline of its own, so a timer
// cancels it; the timer's handler owns the resolver, never a reference into this frame.
awaitable<std::tuple<beast::error_code, tcp::endpoint>> resolve(asio::any_io_executor ex, const std::string& host,
                                                                std::uint16_t port,
                                                                std::chrono::steady_clock::time_point deadline) {
  beast::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) co_return std::tuple{beast::error_code{}, tcp::endpoint(address, port)};

  auto resolver = std::make_shared<tcp::resolver>(ex);
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer guard(ex, deadline);
  guard.async_wait([resolver, timed_out](const beast::error_code& wec) {
    if (!wec) {
      *timed_out = true;
      resolver->cancel();
    }
  });
  const std::string service = std::to_string(port);
  auto [rec, results] = co_await resolver->async_resolve(host, service, net::nothrow);
  guard.cancel();
  if (*timed_out) co_return std::tuple{beast::error_code(beast::error::timeout), tcp::endpoint{}};
  if (rec) co_return std::tuple{rec, tcp::endpoint{}};
  if (results.empty()) co_return std::tuple{beast::error_code(asio::error::host_not_found), tcp::endpoint{}};
  co_return std::tuple{beast::error_code{}, results.begin()->endpoint()};
}

}  // namespace

awaitable<bool> open_stream(beast::tcp_stream& stream, const std::string& host, std::uint16_t port,
                            std::chrono::steady_clock::time_point deadline, std::chrono::milliseconds timeout,
                            ProbeResult& result) {
  const asio::any_io_executor ex = stream.get_executor();  // named: see net/asio.h on co_await temporaries
  auto [rec, endpoint] = co_await resolve(ex, host, port, deadline);
  if (rec) {
    result.error = describe(fmt::format("resolve {}", host), rec, timeout);
    co_return false;
  }
  stream.expires_at(deadline);  // one deadline for connect, handshake, write and read together
  auto [cec] = co_await stream.async_connect(endpoint, net::nothrow);
  if (cec) {
    result.error = describe("connect", cec, timeout);
    co_return false;
  }
  co_return true;
}

namespace {

// Reads the answer whole into `result` (the body up to kMaxProbeBody), over a plain or a TLS stream.
template <class Stream>
awaitable<void> read_answer(Stream& stream, std::chrono::milliseconds timeout, bool keep_headers,
                            ProbeResult& result) {
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(kMaxProbeBody);
  auto [rdec, read] = co_await http::async_read(stream, buffer, parser, net::nothrow);
  if (rdec == http::error::body_limit) {
    result.error = fmt::format("read response: body larger than {} bytes", kMaxProbeBody);
    co_return;
  }
  if (rdec) {
    result.error = describe("read response", rdec, timeout);
    co_return;
  }
  result.status = static_cast<int>(parser.get().result_int());
  if (keep_headers) {
    for (const auto& f : parser.get()) result.headers.emplace_back(f.name_string(), f.value());
  }
  result.body = std::move(parser.get().body());
}

// The GET and its answer, over a plain or a TLS stream.
template <class Stream>
awaitable<void> exchange(Stream& stream, std::string_view host_header, std::string_view path,
                         std::chrono::milliseconds timeout, ProbeResult& result) {
  http::request<http::empty_body> request{http::verb::get, path, 11};
  request.set(http::field::host, host_header);
  request.set(http::field::user_agent, kUserAgent);
  request.set(http::field::accept, "application/json");
  request.set(http::field::connection, "close");
  auto [wec, written] = co_await http::async_write(stream, request, net::nothrow);
  if (wec) {
    result.error = describe("send request", wec, timeout);
    co_return;
  }
  co_await read_answer(stream, timeout, false, result);
}

}  // namespace

awaitable<ProbeResult> http_get(asio::any_io_executor ex, const std::string& host, std::uint16_t port,
                                std::string_view host_header, std::string_view path,
                                std::chrono::milliseconds timeout, std::shared_ptr<const net::ClientTls> tls) {
  ProbeResult result;
  beast::tcp_stream stream(ex);
  if (!co_await open_stream(stream, host, port, std::chrono::steady_clock::now() + timeout, timeout, result))
    co_return result;
  beast::error_code ignored;
  if (!tls) {
    co_await exchange(stream, host_header, path, timeout, result);
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return result;
  }
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), tls->context());
  tls->prepare(secure.native_handle(), host);
  auto [hec] = co_await secure.async_handshake(asio::ssl::stream_base::client, net::nothrow);
  if (hec) {
    result.error = hec == beast::error::timeout ? describe("TLS handshake", hec, timeout)
                                                : "TLS handshake: " + net::handshake_error(secure.native_handle(), hec);
    co_return result;
  }
  co_await exchange(secure, host_header, path, timeout, result);
  secure.next_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return result;
}

awaitable<ProbeResult> http_request(asio::any_io_executor ex, const std::string& host, std::uint16_t port,
                                    std::string head, std::chrono::milliseconds timeout) {
  ProbeResult result;
  beast::tcp_stream stream(ex);
  if (!co_await open_stream(stream, host, port, std::chrono::steady_clock::now() + timeout, timeout, result))
    co_return result;
  auto [wec, written] = co_await asio::async_write(stream, asio::buffer(head), net::nothrow);
  if (wec) {
    result.error = describe("send request", wec, timeout);
    co_return result;
  }
  co_await read_answer(stream, timeout, true, result);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return result;
}

}  // namespace modelgate::http1
