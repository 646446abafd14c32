#include "bench/exchange.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <simdjson.h>

namespace modelgate::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

double ms_since(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// Folds one SSE event's data into `r`; returns true when it carried content.
bool take_event(simdjson::dom::parser& parser, std::string_view data, ExchangeResult& r) {
  if (data == "[DONE]") return false;
  simdjson::dom::element doc;
  if (parser.parse(data.data(), data.size()).get(doc)) return false;
  if (r.server.empty()) {
    std::string_view fp;
    if (!doc["system_fingerprint"].get(fp)) r.server = fp;
  }
  simdjson::dom::element usage;
  if (!doc["usage"].get(usage) && usage.is_object()) {
    std::int64_t v;
    if (!usage["prompt_tokens"].get(v)) r.prompt_tokens = v;
    if (!usage["completion_tokens"].get(v)) r.completion_tokens = v;
    if (!usage.at_pointer("/prompt_tokens_details/cached_tokens").get(v)) r.cached_tokens = v;
  }
  std::string_view content;
  if (doc.at_pointer("/choices/0/delta/content").get(content) || content.empty()) return false;
  r.content += content;
  return true;
}

}  // namespace

asio::awaitable<ExchangeResult> stream_chat(const Target& target, const std::string& body,
                                            const HeaderList& headers, asio::ip::address source,
                                            std::chrono::milliseconds timeout) {
  ExchangeResult r;
  beast::tcp_stream stream(co_await asio::this_coro::executor);
  stream.expires_after(timeout);
  const auto start = Clock::now();
  boost::system::error_code ec;
  const asio::ip::tcp::endpoint remote(asio::ip::make_address(target.host, ec), target.port);
  if (ec) {
    r.error = "bad address " + target.host;
    co_return r;
  }
  if (!source.is_unspecified()) {
    stream.socket().open(remote.protocol(), ec);
    if (!ec) stream.socket().bind({source, 0}, ec);
    if (ec) {
      r.error = "bind " + source.to_string() + ": " + ec.message();
      co_return r;
    }
  }
  std::tie(ec) = co_await stream.async_connect(remote, kAwait);
  if (ec) {
    r.error = "connect: " + ec.message();
    co_return r;
  }

  http::request<http::string_body> req{http::verb::post, target.path, 11};
  req.set(http::field::host, target.host + ":" + std::to_string(target.port));
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "text/event-stream");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  req.prepare_payload();
  std::tie(ec, std::ignore) = co_await http::async_write(stream, req, kAwait);
  if (ec) {
    r.error = "write: " + ec.message();
    co_return r;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(boost::none);
  std::tie(ec, std::ignore) = co_await http::async_read_header(stream, buffer, parser, kAwait);
  if (ec) {
    r.error = "read head: " + ec.message();
    co_return r;
  }
  r.status = static_cast<int>(parser.get().result_int());
  if (auto it = parser.get().find("X-Served-By"); it != parser.get().end()) r.server = it->value();

  simdjson::dom::parser json;
  std::size_t scanned = 0;
  Clock::time_point first{}, last{};
  while (!parser.is_done()) {
    std::tie(ec, std::ignore) = co_await http::async_read_some(stream, buffer, parser, kAwait);
    if (ec) break;
    const auto now = Clock::now();
    const std::string& text = parser.get().body();
    // Every complete event ("data: ...\n\n") not yet looked at.
    for (auto end = text.find("\n\n", scanned); end != std::string::npos; end = text.find("\n\n", scanned)) {
      std::string_view event(text.data() + scanned, end - scanned);
      scanned = end + 2;
      if (!event.starts_with("data:")) continue;
      event.remove_prefix(5);
      if (event.starts_with(' ')) event.remove_prefix(1);
      if (r.status == 200 && take_event(json, event, r)) {
        if (r.content_events++ == 0) first = now;
        last = now;
      }
    }
  }
  const auto end = Clock::now();
  r.e2e_ms = ms_since(start, end);
  if (r.content_events > 0) r.ttft_ms = ms_since(start, first);
  if (r.content_events > 1) r.tpot_ms = ms_since(first, last) / (r.content_events - 1);
  if (ec) {
    r.error = (ec == beast::error::timeout ? std::string("timeout") : "read: " + ec.message());
  } else if (r.status != 200) {
    r.error = "status " + std::to_string(r.status);
  } else if (r.content_events == 0) {
    r.error = "no content";
  } else {
    r.ok = true;
  }
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  co_return r;
}

}  // namespace modelgate::bench
