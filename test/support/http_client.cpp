#include "support/http_client.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace modelgate::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

bool CaseInsensitiveLess::operator()(std::string_view a, std::string_view b) const {
  return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) < std::tolower(static_cast<unsigned char>(y));
  });
}

namespace {

std::string lookup(const HeaderMap& headers, std::string_view name) {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

template <typename Fields>
HeaderMap to_map(const Fields& fields) {
  HeaderMap out;
  for (const auto& f : fields) {
    std::string name(f.name_string());
    auto [it, inserted] = out.emplace(name, std::string(f.value()));
    if (!inserted) it->second += ", " + std::string(f.value());
  }
  return out;
}

// Runs one asynchronous operation on `io` until it completes; the tcp_stream's deadline bounds it.
template <typename Start>
error_code run(asio::io_context& io, Start&& start) {
  error_code result;
  bool done = false;
  start([&](error_code ec, auto&&...) {
    result = ec;
    done = true;
  });
  io.restart();
  while (!done && io.run_one() > 0) {
  }
  return result;
}

// Splits complete SSE events ("...\n\n") off the front of `pending`, stamping them with `at`.
void take_events(std::string& pending, Millis at, std::vector<SseEvent>& events) {
  pending.erase(std::remove(pending.begin(), pending.end(), '\r'), pending.end());
  std::size_t end;
  while ((end = pending.find("\n\n")) != std::string::npos) {
    std::string_view block(pending.data(), end);
    std::string data;
    bool has_data = false;
    while (!block.empty()) {
      auto nl = block.find('\n');
      std::string_view line = block.substr(0, nl);
      block = nl == std::string_view::npos ? std::string_view() : block.substr(nl + 1);
      if (!line.starts_with("data:")) continue;  // comments, event:, id:
      line.remove_prefix(5);
      if (line.starts_with(' ')) line.remove_prefix(1);
      if (has_data) data += '\n';
      data += line;
      has_data = true;
    }
    if (has_data) events.push_back({std::move(data), at});
    pending.erase(0, end + 2);
  }
}

}  // namespace

std::string Response::header(std::string_view name) const { return lookup(headers, name); }
std::string StreamResult::header(std::string_view name) const { return lookup(headers, name); }

struct HttpClient::Impl {
  Impl(std::string h, std::uint16_t p) : host(std::move(h)), port(p) {}

  std::string host;
  std::uint16_t port;
  std::string source;  // local address to connect from, "" for the system's choice
  asio::io_context io;
  std::optional<beast::tcp_stream> stream;
  beast::flat_buffer buffer;

  error_code connect(Clock::time_point deadline) {
    close();
    tcp::resolver resolver(io);
    error_code ec;
    auto endpoints = resolver.resolve(host, std::to_string(port), ec);
    if (ec) return ec;
    stream.emplace(io);
    stream->expires_at(deadline);
    if (!source.empty()) {
      // Bound first, then connected to one endpoint: a range connect reopens the socket.
      const tcp::endpoint to = *endpoints.begin();
      const auto from = asio::ip::make_address(source, ec);
      if (!ec) stream->socket().open(to.protocol(), ec);
      if (!ec) stream->socket().bind({from, 0}, ec);
      if (!ec) ec = run(io, [&](auto handler) { stream->async_connect(to, std::move(handler)); });
    } else {
      ec = run(io, [&](auto handler) { stream->async_connect(endpoints, std::move(handler)); });
    }
    if (ec) close();
    return ec;
  }

  void close() {
    if (!stream) return;
    error_code ignored;
    stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream->socket().close(ignored);
    stream.reset();
    buffer.clear();
  }

  http::request<http::string_body> make_request(std::string_view method, std::string_view target,
                                                const Headers& headers, std::string_view body) {
    http::request<http::string_body> req;
    req.method_string(method);
    req.target(target);
    req.version(11);
    bool framed = false;
    bool has_host = false;
    for (const auto& [name, value] : headers) {
      req.insert(name, value);
      CaseInsensitiveLess less;
      auto same = [&](std::string_view n) { return !less(name, n) && !less(n, name); };
      framed = framed || same("Content-Length") || same("Transfer-Encoding");
      has_host = has_host || same("Host");
    }
    if (!has_host) req.set(http::field::host, host + ":" + std::to_string(port));
    req.body() = std::string(body);
    if (!framed && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH"))
      req.prepare_payload();
    return req;
  }

  error_code write(http::request<http::string_body>& req, Clock::time_point deadline) {
    stream->expires_at(deadline);
    return run(io, [&](auto handler) { http::async_write(*stream, req, std::move(handler)); });
  }
};

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(std::move(host), port)), timeout_(timeout) {}

HttpClient::~HttpClient() = default;

void HttpClient::close() { impl_->close(); }

void HttpClient::set_source(std::string address) { impl_->source = std::move(address); }

bool HttpClient::connected() const { return impl_->stream.has_value(); }

Response HttpClient::post_json(std::string_view target, std::string_view json, Headers headers) {
  headers.emplace_back("Content-Type", "application/json");
  return request("POST", target, headers, json);
}

Response HttpClient::request(std::string_view method, std::string_view target, const Headers& headers,
                             std::string_view body) {
  const auto deadline = Clock::now() + timeout_;
  auto req = impl_->make_request(method, target, headers, body);
  Response response;
  for (int attempt = 0; attempt < 2; ++attempt) {
    const bool reused = impl_->stream.has_value();
    if (!reused) {
      if (auto ec = impl_->connect(deadline)) {
        response.error = "connect: " + ec.message();
        return response;
      }
    }
    if (auto ec = impl_->write(req, deadline)) {
      impl_->close();
      if (reused) continue;  // the server closed the idle connection: retry on a new one
      response.error = "write: " + ec.message();
      return response;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    if (method == "HEAD") parser.skip(true);
    impl_->stream->expires_at(deadline);
    auto ec = run(impl_->io, [&](auto handler) {
      http::async_read(*impl_->stream, impl_->buffer, parser, std::move(handler));
    });
    if (ec) {
      impl_->close();
      bool nothing_read = ec == http::error::end_of_stream || ec == asio::error::connection_reset;
      if (reused && nothing_read && attempt == 0) continue;
      response.error = "read: " + ec.message();
      return response;
    }
    auto msg = parser.release();
    response.status = static_cast<int>(msg.result_int());
    response.headers = to_map(msg);
    response.body = std::move(msg.body());
    if (!msg.keep_alive()) impl_->close();
    return response;
  }
  response.error = "the connection kept closing";
  return response;
}

StreamResult HttpClient::stream(std::string_view method, std::string_view target, const Headers& headers,
                                std::string_view body, StreamOptions options) {
  const auto deadline = Clock::now() + options.timeout;
  auto req = impl_->make_request(method, target, headers, body);
  StreamResult result;
  // A stream is not retried once written, so start it on a fresh connection.
  if (auto ec = impl_->connect(deadline)) {
    result.error = "connect: " + ec.message();
    return result;
  }
  auto& stream = *impl_->stream;
  if (auto ec = impl_->write(req, deadline)) {
    impl_->close();
    result.error = "write: " + ec.message();
    return result;
  }
  const auto t0 = Clock::now();

  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  stream.expires_at(deadline);
  auto ec = run(impl_->io, [&](auto handler) {
    http::async_read_header(stream, impl_->buffer, parser, std::move(handler));
  });
  if (ec) {
    impl_->close();
    result.error = "read header: " + ec.message();
    return result;
  }
  result.headers_at = Clock::now() - t0;
  result.status = static_cast<int>(parser.get().result_int());
  result.headers = to_map(parser.get());

  std::string pending;
  char chunk[16 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof chunk;
    ec = run(impl_->io, [&](auto handler) {
      http::async_read_some(stream, impl_->buffer, parser, std::move(handler));
    });
    Millis at = Clock::now() - t0;
    std::size_t n = sizeof chunk - parser.get().body().size;
    if (n > 0) {
      result.body.append(chunk, n);
      pending.append(chunk, n);
      take_events(pending, at, result.events);
    }
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      result.error = "read body: " + ec.message();
      break;
    }
    if (result.events.size() >= options.stop_after_events) {
      result.error = "stopped after " + std::to_string(result.events.size()) + " events";
      break;
    }
  }
  result.complete = parser.is_done();
  if (!result.complete || !parser.get().keep_alive()) impl_->close();
  return result;
}

namespace {

// Reads until the server closes the connection or the stream's deadline passes; how it ended.
std::string read_to_end(asio::io_context& io, beast::tcp_stream& stream, std::string& received) {
  char buf[16 * 1024];
  for (;;) {
    std::size_t got = 0;
    const error_code ec = run(io, [&](auto handler) {
      stream.async_read_some(asio::buffer(buf), [&, handler = std::move(handler)](error_code e, std::size_t n) mutable {
        got = n;
        handler(e);
      });
    });
    received.append(buf, got);
    if (ec == asio::error::eof) return "eof";
    if (ec == asio::error::connection_reset) return "reset";
    if (ec == beast::error::timeout) return "timeout";
    if (ec) return ec.message();
  }
}

bool open_connection(asio::io_context& io, beast::tcp_stream& stream, std::string_view host, std::uint16_t port) {
  error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(std::string(host), std::to_string(port), ec);
  return !ec && !run(io, [&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
}

}  // namespace

std::string raw_exchange(std::uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout,
                         std::string_view host) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_at(Clock::now() + timeout);
  if (!open_connection(io, stream, host, port)) return {};
  if (run(io, [&](auto handler) { asio::async_write(stream, asio::buffer(bytes), std::move(handler)); }))
    return {};
  std::string received;
  read_to_end(io, stream, received);
  return received;
}

PacedExchange raw_exchange_paced(std::uint16_t port, const std::vector<std::string>& pieces,
                                 std::chrono::milliseconds gap, std::chrono::milliseconds timeout) {
  asio::io_context io;
  beast::tcp_stream stream(io);
  stream.expires_at(Clock::now() + timeout);
  PacedExchange out;
  if (!open_connection(io, stream, "127.0.0.1", port)) {
    out.end = "connect failed";
    return out;
  }
  for (const std::string& piece : pieces) {
    if (out.pieces_written > 0) std::this_thread::sleep_for(gap);
    if (run(io, [&](auto handler) { asio::async_write(stream, asio::buffer(piece), std::move(handler)); })) break;
    ++out.pieces_written;
  }
  out.end = read_to_end(io, stream, out.received);
  return out;
}

}  // namespace modelgate::test
