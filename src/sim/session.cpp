#include "sim/session.h"

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <fmt/format.h>

#include "sim/http_out.h"
#include "sim/listener.h"
#include "text/percent.h"

namespace modelgate::sim::detail {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::size_t kHeaderLimit = 64 * 1024;
constexpr std::size_t kBodyLimit = 64 * 1024 * 1024;
constexpr std::size_t kPipelineLimit = 1024 * 1024;  // read-ahead kept while answering
constexpr auto kIdleTimeout = 60s;                    // waiting for (the rest of) a request
constexpr auto kWriteTimeout = 30s;                   // the client must drain a write by then
constexpr auto kWatchdogTick = 2s;

}  // namespace

Session::Session(asio::ip::tcp::socket socket, std::shared_ptr<Listener> listener)
    : socket_(std::move(socket)),
      listener_(std::move(listener)),
      core_(listener_->core()),
      watchdog_timer_(socket_.get_executor()),
      generation_timer_(socket_.get_executor()),
      hold_timer_(socket_.get_executor()) {}

asio::awaitable<void> Session::start(std::shared_ptr<Session> self) {
  if (!self->listener_->add(self.get())) {  // the sim is stopping
    self->close();
    co_return;
  }
  self->core_.stats.connections.fetch_add(1, std::memory_order_relaxed);
  asio::co_spawn(self->executor(), watchdog(self), asio::detached);
  try {
    co_await self->serve();
  } catch (const std::exception&) {
    // A cancelled or failed operation threw: the connection just ends.
  }
  self->listener_->remove(self.get());
  self->close();
}

void Session::close() {
  boost::system::error_code ignored;
  if (socket_.is_open()) {
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }
  watchdog_timer_.cancel();
  generation_timer_.cancel();
  hold_timer_.cancel();
}

// --keep-alive-timeout-ms, as uvicorn's timeout_keep_alive: how long a connection may wait for a
// request. The watchdog ticks often enough to honour it within a quarter of it.
Clock::duration Session::idle_timeout() const {
  const int ms = core_.options.keep_alive_timeout_ms;
  return ms > 0 ? Clock::duration(std::chrono::milliseconds(ms)) : Clock::duration(kIdleTimeout);
}

Clock::duration Session::watchdog_tick() const {
  return std::clamp<Clock::duration>(idle_timeout() / 4, std::chrono::milliseconds(5), kWatchdogTick);
}

asio::awaitable<void> Session::watchdog(std::shared_ptr<Session> self) {
  for (;;) {
    self->watchdog_timer_.expires_after(self->watchdog_tick());
    auto [ec] = co_await self->watchdog_timer_.async_wait(use_tuple);
    if (ec || !self->socket_.is_open()) co_return;
    if (Clock::now() >= self->deadline_) {
      self->close();
      co_return;
    }
  }
}

asio::awaitable<void> Session::serve() {
  for (;;) {
    // A fresh parser per message, with explicit limits.
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    arm(idle_timeout());
    auto [ec, n] = co_await http::async_read_header(socket_, buffer_, parser, use_tuple);
    if (!ec && !parser.is_done()) {
      if (parser.get()[http::field::expect] == "100-continue") {
        arm(kWriteTimeout);
        co_await write("HTTP/1.1 100 Continue\r\n\r\n");
        arm(kIdleTimeout);
      }
      std::tie(ec, n) = co_await http::async_read(socket_, buffer_, parser, use_tuple);
    }
    if (ec) {
      keep_alive_ = false;
      http10_ = false;
      if (ec == http::error::body_limit) {
        co_await send_error({413, "The request body is too large."});
      } else if (ec == http::error::header_limit) {
        co_await send_error({431, "The request header is too large."});
      } else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        co_await send_error({400, "Malformed HTTP request."});
      }
      co_return;
    }
    auto& request = parser.get();
    keep_alive_ = request.keep_alive();
    http10_ = request.version() < 11;
    if (core_.hung()) {  // injected hang: read, never answer
      disarm();
      co_await watch_close();
      co_return;
    }
    if (!co_await handle(request) || !keep_alive_) co_return;
  }
}

asio::awaitable<bool> Session::handle(Request& request) {
  std::string_view target = request.target();
  std::string_view path = target.substr(0, target.find('?'));
  auto method = request.method();
  bool admin_path = path.starts_with("/admin/");

  if (method == http::verb::post && path == "/v1/chat/completions")
    co_return co_await generation(request, Endpoint::chat);
  if (method == http::verb::post && path == "/v1/completions")
    co_return co_await generation(request, Endpoint::completion);
  if (method == http::verb::post && path == "/v1/responses")
    co_return co_await generation(request, Endpoint::responses);

  // X-Sim-Status on anything but admin: answer that status (generation() handles its own).
  if (auto forced = forced_status(request); forced && !admin_path) {
    co_return co_await send_error({*forced, "Simulated failure (X-Sim-Status).", error_type(*forced)});
  }

  if (method == http::verb::get && path == "/metrics" && core_.engines) co_return co_await engine_metrics();
  if (method == http::verb::get && path == "/health") co_return co_await send(200, kJson, R"({"status":"ok"})");
  if (method == http::verb::get && path == "/v1/models") co_return co_await models();
  if (method == http::verb::post && path == "/v1/embeddings") co_return co_await embeddings(request);
  const bool audio_path = path == "/v1/audio/transcriptions" || path == "/v1/audio/translations";
  if (method == http::verb::post && audio_path) co_return co_await audio(request, path == "/v1/audio/translations");
  const bool rerank_path = path == "/v1/rerank" || path == "/rerank" || path == "/v2/rerank";
  const bool media_path = rerank_path || path == "/v1/audio/speech" || path == "/v1/images/generations";
  if (method == http::verb::post && media_path)
    co_return co_await model_endpoint(request, rerank_path ? std::string_view("/v1/rerank") : path);
  if (admin_path) co_return co_await admin(request, path);

  bool known = path == "/health" || path == "/v1/models" || path == "/v1/chat/completions" ||
               path == "/v1/completions" || path == "/v1/responses" || path == "/v1/embeddings" ||
               audio_path || media_path;
  if (known) co_return co_await send_error({405, "Method not allowed."});
  co_return co_await send_error({404, fmt::format("Unknown path {}.", path), "invalid_request_error",
                                 "not_found"});
}

asio::awaitable<bool> Session::models() {
  body_.clear();
  append_model_list(body_, *core_.models.snapshot(), core_.created_unix, core_.options.name);
  co_return co_await send(200, kJson, body_);
}

asio::awaitable<bool> Session::embeddings(Request& request) {
  if (auto error = parse_embedding(request.body(), embedding_request_))
    co_return co_await send_error(*error);
  if (!core_.models.contains(embedding_request_.model)) {
    co_return co_await send_error({404,
                                   fmt::format("The model `{}` does not exist.", embedding_request_.model),
                                   "invalid_request_error", "model_not_found"});
  }
  body_.clear();
  append_embeddings(body_, embedding_request_);
  co_return co_await send(200, kJson, body_);
}

// POST /admin/models {"id":..} adds (201; 200 if present), DELETE /admin/models/<id> removes
// (204; 404 if absent), GET /admin/stats reports generation counters.
asio::awaitable<bool> Session::admin(Request& request, std::string_view path) {
  auto method = request.method();
  if (path == "/admin/stats") {
    if (method != http::verb::get) co_return co_await send_error({405, "Method not allowed."});
    body_.clear();
    append_stats(body_, {core_.stats.requests.load(), core_.stats.completed.load(),
                         core_.stats.aborted.load(),
                         core_.engines ? core_.engines->running() : core_.limiter.running(),
                         core_.engines ? core_.engines->waiting() : core_.limiter.queued(),
                         core_.limiter.peak(), core_.stats.connections.load()});
    co_return co_await send(200, kJson, body_);
  }
  if (path == "/admin/models" && method == http::verb::post) {
    std::string id;
    if (auto error = parse_model_id(request.body(), id)) co_return co_await send_error(*error);
    bool added = core_.models.add(id);
    body_.clear();
    append_model_object(body_, id, core_.created_unix, core_.options.name);
    co_return co_await send(added ? 201 : 200, kJson, body_);
  }
  constexpr std::string_view prefix = "/admin/models/";
  if (path.starts_with(prefix) && path.size() > prefix.size() && method == http::verb::delete_) {
    std::string id = text::percent_decode(path.substr(prefix.size()));
    if (core_.models.remove(id)) {
      if (core_.engines) core_.engines->drop(id);
      co_return co_await send(204, {}, {});
    }
    co_return co_await send_error({404, fmt::format("The model `{}` does not exist.", id),
                                   "invalid_request_error", "model_not_found"});
  }
  co_return co_await send_error({404, fmt::format("Unknown admin path {}.", path),
                                 "invalid_request_error", "not_found"});
}

void Session::start_head(int status, std::string_view content_type,
                         std::optional<std::size_t> length) {
  if (!length && http10_) keep_alive_ = false;  // a 1.0 stream ends by closing
  out_.clear();
  append_head(out_, {status, core_.options.name, content_type, length, keep_alive_, http10_});
}

void Session::frame(std::string_view event) {
  if (http10_) {
    out_ += event;
  } else {
    append_chunk(out_, event);
  }
}

asio::awaitable<bool> Session::send(int status, std::string_view content_type, std::string_view body) {
  start_head(status, content_type, body.size());
  co_return co_await write(out_, body);
}

asio::awaitable<bool> Session::send_error(const ApiError& error) {
  event_.clear();
  append_error(event_, error);
  co_return co_await send(error.status, kJson, event_);
}

asio::awaitable<bool> Session::write(std::string_view a, std::string_view b) {
  std::array<asio::const_buffer, 2> buffers{asio::buffer(a), asio::buffer(b)};
  arm(kWriteTimeout);
  auto [ec, n] = co_await asio::async_write(socket_, buffers, use_tuple);
  disarm();
  co_return !ec;
}

asio::awaitable<void> Session::watch_close() {
  for (;;) {
    if (buffer_.size() >= kPipelineLimit) {  // stop reading ahead; wait to be cancelled
      co_await wait_forever(hold_timer_);
      co_return;
    }
    auto [ec, n] = co_await socket_.async_read_some(buffer_.prepare(4096), use_tuple);
    if (ec) co_return;  // EOF, reset, or cancelled because the answer is done
    buffer_.commit(n);
  }
}

asio::awaitable<bool> Session::sleep_until(Clock::time_point when) {
  if (when <= Clock::now()) co_return true;
  generation_timer_.expires_at(when);
  auto [ec] = co_await generation_timer_.async_wait(use_tuple);
  co_return !ec;
}

asio::awaitable<void> Session::wait_forever(asio::steady_timer& timer) {
  disarm();
  timer.expires_at(Clock::time_point::max());
  co_await timer.async_wait(use_tuple);
}

}  // namespace modelgate::sim::detail
