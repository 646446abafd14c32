#include "admin/admin_server.h"

#include <atomic>
#include <chrono>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "admin/api.h"
#include "admin/api_json.h"
#include "admin/sampler.h"
#include "net/asio.h"

namespace modelgate::admin {

using asio::awaitable;
using net::nothrow;
using namespace std::chrono_literals;

namespace {

constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kBodyLimit = 1024 * 1024;
constexpr std::size_t kMaxConnections = 64;  // an admin API needs few; more is a flood
constexpr auto kIdleTimeout = 30s;           // for (the rest of) a request
constexpr auto kWriteTimeout = 10s;          // the client must drain a response by then
constexpr auto kSampleInterval = 1s;

}  // namespace

namespace detail {

struct AdminState {
  AdminState(asio::io_context& io, const config::Admin& admin, AdminBackend& backend)
      : io(io),
        config(admin),
        backend(backend),
        api(backend, admin.token),
        strand(asio::make_strand(io)),
        acceptor(strand),
        sample_timer(strand),
        broadcast(strand) {}

  asio::io_context& io;
  const config::Admin config;
  AdminBackend& backend;
  Api api;
  asio::strand<asio::io_context::executor_type> strand;
  tcp::acceptor acceptor;
  asio::steady_timer sample_timer;
  // Never expires: resetting it wakes every /api/events client waiting on it (a broadcast).
  asio::steady_timer broadcast;
  Sampler sampler;
  std::atomic<bool> stopped{false};
  std::uint16_t port = 0;
  // On the strand: the connections stop() must close.
  std::unordered_set<beast::tcp_stream*> connections;
  bool sample_failing = false;

  void sample();
};

}  // namespace detail

namespace {

void close_stream(beast::tcp_stream& stream) {
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
}

http::response<http::string_body> to_http(Response& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "modelgate");
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  for (auto& [name, value] : r.headers) res.set(name, value);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

awaitable<bool> write_response(beast::tcp_stream& stream, Response& r, unsigned version,
                               bool keep_alive) {
  auto res = to_http(r, version, keep_alive);
  stream.expires_after(kWriteTimeout);
  auto [ec, n] = co_await http::async_write(stream, res, net::nothrow);
  co_return !ec;
}

// GET /api/events: the history of totals once, then every sample as it is taken. The body is
// delimited by closing the connection (RFC 9112 §6.3), which EventSource expects.
awaitable<void> serve_events(detail::AdminState& self, beast::tcp_stream& stream) {
  std::string out =
      "HTTP/1.1 200 OK\r\nServer: modelgate\r\nContent-Type: text/event-stream\r\n"
      "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\nConnection: close\r\n\r\n"
      "retry: 2000\n\n";
  out += "event: history\ndata: ";
  out += self.sampler.history_json();
  out += "\n\n";
  if (!self.sampler.snapshot_json().empty()) {
    out += "event: snapshot\ndata: ";
    out += self.sampler.snapshot_json();
    out += "\n\n";
  }
  std::uint64_t sent = self.sampler.sequence();
  for (;;) {
    stream.expires_after(kWriteTimeout);
    auto [ec, n] = co_await asio::async_write(stream, asio::buffer(out), net::nothrow);
    if (ec) co_return;
    // Wait for the sampler's broadcast; a client that is slow to drain skips samples rather
    // than queueing them.
    while (!self.stopped.load() && self.sampler.sequence() == sent) {
      auto [wait_ec] = co_await self.broadcast.async_wait(net::nothrow);
      (void)wait_ec;  // operation_aborted is the broadcast itself
    }
    if (self.stopped.load()) co_return;
    sent = self.sampler.sequence();
    out = "event: snapshot\ndata: ";
    out += self.sampler.snapshot_json();
    out += "\n\n";
  }
}

awaitable<void> serve_connection(std::shared_ptr<detail::AdminState> self, tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  boost::system::error_code ec;
  const auto client = stream.socket().remote_endpoint(ec).address();
  if (ec || self->stopped.load() || self->connections.size() >= kMaxConnections) {
    close_stream(stream);
    co_return;
  }
  self->connections.insert(&stream);
  struct Unregister {
    detail::AdminState& state;
    beast::tcp_stream* stream;
    ~Unregister() { state.connections.erase(stream); }
  } unregister{*self, &stream};

  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;  // a fresh parser per message
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    stream.expires_after(kIdleTimeout);
    auto [read_ec, n] = co_await http::async_read(stream, buffer, parser, net::nothrow);
    if (self->stopped.load()) break;
    if (read_ec) {
      std::optional<Response> answer;
      if (read_ec == http::error::body_limit) {
        answer = error_response(413, "The request body is over 1 MiB; admin calls take small JSON bodies.");
      } else if (read_ec == http::error::header_limit) {
        answer = error_response(431, "The request header is over 16 KiB.");
      } else if (read_ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
                 read_ec != http::error::end_of_stream && read_ec != http::error::partial_message) {
        answer = error_response(400, "Malformed HTTP request.");
      }
      if (answer) co_await write_response(stream, *answer, 11, false);
      break;
    }
    auto& request = parser.get();
    if (Api::is_event_stream(request)) {
      co_await serve_events(*self, stream);
      break;
    }
    Response response = self->api.handle(request, client);
    const bool keep_alive = request.keep_alive();
    if (!co_await write_response(stream, response, request.version(), keep_alive) || !keep_alive) break;
  }
  close_stream(stream);
}

awaitable<void> accept_loop(std::shared_ptr<detail::AdminState> self) {
  for (;;) {
    auto [ec, socket] = co_await self->acceptor.async_accept(self->strand, net::nothrow);
    if (self->stopped.load() || !self->acceptor.is_open()) co_return;
    if (ec) {  // out of file descriptors and the like: back off instead of spinning
      asio::steady_timer pause(self->strand, 100ms);
      co_await pause.async_wait(net::nothrow);
      continue;
    }
    asio::co_spawn(self->strand, serve_connection(self, std::move(socket)), asio::detached);
  }
}

awaitable<void> sample_loop(std::shared_ptr<detail::AdminState> self) {
  auto next = std::chrono::steady_clock::now();
  while (!self->stopped.load()) {
    self->sample();
    next += kSampleInterval;
    const auto now = std::chrono::steady_clock::now();
    if (next < now) next = now;  // the process was suspended: do not catch up in a burst
    self->sample_timer.expires_at(next);
    auto [ec] = co_await self->sample_timer.async_wait(net::nothrow);
    if (ec) co_return;
  }
}

}  // namespace

void detail::AdminState::sample() {
  try {
    auto services = backend.services();
    auto status = backend.status();
    sampler.record(std::chrono::steady_clock::now(), std::chrono::system_clock::now(), services,
                   status);
    sample_failing = false;
  } catch (const std::exception& e) {
    if (!sample_failing) spdlog::warn("admin: sampling the gateway's services failed: {}", e.what());
    sample_failing = true;
    return;
  }
  broadcast.expires_at(std::chrono::steady_clock::time_point::max());  // wakes every waiter
}

AdminServer::AdminServer(asio::io_context& io, const config::Admin& admin, AdminBackend& backend)
    : state_(std::make_shared<detail::AdminState>(io, admin, backend)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start(int inherited) {
  auto& s = *state_;
  const std::string where = s.config.host.find(':') != std::string::npos
                                ? fmt::format("[{}]:{}", s.config.host, s.config.port)
                                : fmt::format("{}:{}", s.config.host, s.config.port);
  try {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(s.config.host, ec);
    if (ec) {
      tcp::resolver resolver(s.io);
      auto results = resolver.resolve(s.config.host, "", ec);
      if (ec || results.empty()) {
        throw boost::system::system_error(ec ? ec : asio::error::host_not_found, "resolve");
      }
      address = results.begin()->endpoint().address();
    }
    const tcp::endpoint endpoint(address, s.config.port);
    if (inherited >= 0) {
      s.acceptor.assign(endpoint.protocol(), inherited);
    } else {
      s.acceptor.open(endpoint.protocol());
      s.acceptor.set_option(asio::socket_base::reuse_address(true));
      s.acceptor.bind(endpoint);
      s.acceptor.listen(asio::socket_base::max_listen_connections);
    }
    s.port = s.acceptor.local_endpoint().port();
    fd_ = s.acceptor.native_handle();
  } catch (const boost::system::system_error& e) {
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
    throw std::runtime_error(fmt::format(
        "cannot listen for the admin API on {}: {}; change admin.address in the configuration "
        "(e.g. admin: {{address: \"127.0.0.1:9091\"}}) or disable it with admin.enabled: false",
        where, e.code().message()));
  }
  s.broadcast.expires_at(std::chrono::steady_clock::time_point::max());
  asio::co_spawn(s.strand, accept_loop(state_), asio::detached);
  asio::co_spawn(s.strand, sample_loop(state_), asio::detached);
}

std::uint16_t AdminServer::port() const { return state_->port; }

int AdminServer::native_handle() const { return state_->stopped.load() ? -1 : fd_; }

void AdminServer::stop() {
  if (state_->stopped.exchange(true)) return;
  asio::post(state_->strand, [self = state_] {
    boost::system::error_code ignored;
    self->acceptor.close(ignored);
    self->sample_timer.cancel();
    self->broadcast.cancel();
    for (auto* stream : self->connections) close_stream(*stream);
  });
}

}  // namespace modelgate::admin
