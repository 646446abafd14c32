// Reading a request, applying RFC 9112 framing rules strictly, and choosing a route.
//
// Framing is where request smuggling lives, so ambiguity is refused rather than guessed at:
// Content-Length with Transfer-Encoding, an invalid or repeated differing Content-Length, or a
// Transfer-Encoding whose last coding is not chunked all get 400 and the connection closed
// (RFC 9112 §6.1, §6.3).
#include "proxy/session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "observability/access_log.h"
#include "observability/metrics.h"
#include "proxy/catalogue.h"
#include "proxy/model_field.h"
#include "proxy/session_impl.h"

namespace modelgate::proxy {

namespace {

std::string_view strip_port(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(1, close - 1);
  }
  auto colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

routing::IpAddress to_ip(const asio::ip::address& a) {
  routing::IpAddress ip;
  if (a.is_v4()) {
    auto v4 = a.to_v4().to_bytes();
    ip.bytes[10] = ip.bytes[11] = 0xff;
    std::copy(v4.begin(), v4.end(), ip.bytes.begin() + 12);
  } else {
    auto v6 = a.to_v6().to_bytes();
    std::copy(v6.begin(), v6.end(), ip.bytes.begin());
  }
  return ip;
}

struct RequestCount {
  explicit RequestCount(std::atomic<int>& c) : c_(c) { c_.fetch_add(1, std::memory_order_relaxed); }
  ~RequestCount() { c_.fetch_sub(1, std::memory_order_relaxed); }
  std::atomic<int>& c_;
};

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

}  // namespace

void Session::begin_record() {
  started_ = std::chrono::steady_clock::now();
  const auto& req = parser_->get();
  record_.time = std::chrono::system_clock::now();
  record_.client = client_ip_text_;
  record_.method = req.method_string();
  record_.path = req.target();
  record_.status = 0;
  record_.bytes_in = record_.bytes_out = 0;
  record_.upstream.clear();
  record_.router.clear();
  record_.service.clear();
  record_.model.clear();
  record_.stream = false;
  record_.ttfb.reset();
  record_.ttft.reset();
  record_.prompt_tokens.reset();
  record_.completion_tokens.reset();
  record_.attempts = 0;
  record_.worker = worker_.index();
}

void Session::finish_record() {
  record_.duration = std::chrono::steady_clock::now() - started_;
  if (worker_.metrics) worker_.metrics->shard(worker_.index()).record(record_);
  if (worker_.access_log) worker_.access_log->log(record_);
}

awaitable<void> run_session(tcp::socket socket, Worker& worker, std::string entry_point) {
  Session session(std::move(socket), worker, std::move(entry_point));
  co_await session.run();
}

Session::Session(tcp::socket socket, Worker& worker, std::string entry_point)
    : client_(std::move(socket)), worker_(worker), entry_point_(std::move(entry_point)) {
  beast::error_code ec;
  auto remote = client_.socket().remote_endpoint(ec);
  if (!ec) {
    auto addr = remote.address();
    if (addr.is_v6() && addr.to_v6().is_v4_mapped())
      addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
    client_ip_ = to_ip(addr);
    client_ip_text_ = addr.to_string();
  }
}

awaitable<void> Session::run() {
  while (co_await serve_one()) {
    if (worker_.gateway_draining()) break;
  }
  beast::error_code ec;
  client_.socket().shutdown(tcp::socket::shutdown_send, ec);
  client_.close();
}

awaitable<bool> Session::reply_error(const ErrorReply& e, bool keep_alive) {
  record_.status = e.status;
  // A request whose body was not read cannot be followed by another on this connection.
  keep_alive = keep_alive && parser_ && parser_->is_done();
  head_ = render_error(e, keep_alive);
  client_.expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(head_), nothrow);
  co_return !ec && keep_alive;
}

awaitable<bool> Session::reply_text(int status, std::string_view body, bool keep_alive) {
  co_return co_await reply_body(status, "text/plain; charset=utf-8", body, keep_alive);
}

awaitable<bool> Session::reply_body(int status, std::string_view content_type, std::string_view body,
                                    bool keep_alive) {
  record_.status = status;
  keep_alive = keep_alive && parser_ && parser_->is_done();
  head_ = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}\r\n{}", status,
                      std::string_view(http::obsolete_reason(static_cast<http::status>(status))),
                      content_type, body.size(), keep_alive ? "" : "Connection: close\r\n", body);
  client_.expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(head_), nothrow);
  co_return !ec && keep_alive;
}

awaitable<beast::error_code> Session::send_continue_once() {
  if (continue_sent_) co_return beast::error_code{};
  continue_sent_ = true;
  const auto& req = parser_->get();
  if (!beast::iequals(req[http::field::expect], "100-continue")) co_return beast::error_code{};
  static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
  auto [ec, n] = co_await asio::async_write(client_, asio::buffer(kContinue), nothrow);
  co_return ec;
}

awaitable<Session::BodyRead> Session::read_whole_body(std::size_t limit) {
  body_.clear();
  auto& parser = *parser_;
  if (parser.is_done()) co_return BodyRead::ok;
  if (auto cl = parser.content_length(); cl && *cl > limit) co_return BodyRead::too_large;
  if (co_await send_continue_once()) co_return BodyRead::failed;
  std::size_t used = 0;
  std::size_t want = parser.content_length() ? static_cast<std::size_t>(*parser.content_length()) + 1 : 16384;
  for (;;) {
    if (body_.size() < want) body_.resize(want);
    auto& b = parser.get().body();
    b.data = body_.data() + used;
    b.size = body_.size() - used;
    b.more = true;
    auto [ec, n] = co_await http::async_read(client_, in_, parser, nothrow);
    used = body_.size() - b.size;
    if (used > limit) co_return BodyRead::too_large;
    if (ec == http::error::need_buffer) {
      want = std::min(body_.size() * 2, limit + 1);
      continue;
    }
    if (ec) co_return BodyRead::failed;
    if (parser.is_done()) break;
  }
  body_.resize(used);
  co_return BodyRead::ok;
}

awaitable<bool> Session::serve_one() {
  // Wait for the next request: the idle timeout applies until its first byte arrives.
  if (in_.size() == 0) {
    const EntryPointRuntime* idle_ep = worker_.routes()->snapshot->entry_point(entry_point_);
    if (!idle_ep) co_return false;  // the entry point was removed by a reload
    client_.expires_after(idle_ep->spec.timeouts.idle);
    auto [ec, n] = co_await client_.async_read_some(in_.prepare(4096), nothrow);
    if (ec) co_return false;
    in_.commit(n);
  }
  // The request is served by the config current when it arrived, to its end (a reload while the
  // connection sat idle applies to it).
  auto routes = worker_.routes();
  const EntryPointRuntime* ep = routes->snapshot->entry_point(entry_point_);
  if (!ep) co_return false;
  const auto& limits = ep->spec.limits;
  const auto& timeouts = ep->spec.timeouts;

  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(limits.maxHeaderBytes));
  parser_->body_limit(boost::none);
  continue_sent_ = false;
  client_.expires_after(timeouts.readHeader);
  auto [ec, n] = co_await http::async_read_header(client_, in_, *parser_, nothrow);
  if (ec) {
    if (ec == http::error::end_of_stream || ec == asio::error::eof) co_return false;
    if (ec == beast::error::timeout) {
      {
        const ErrorReply e_{408, "request_timeout", "the request header was not received in time"};
        co_return co_await reply_error(e_, false);
      }
    }
    if (ec == http::error::header_limit) {
      {
        const ErrorReply e_{
            431, "request_header_fields_too_large",
            fmt::format("request header is larger than {} bytes (entryPoints.{}.limits.maxHeaderBytes)",
                        limits.maxHeaderBytes, entry_point_)};
        co_return co_await reply_error(e_, false);
      }
    }
    {
      const ErrorReply e_{400, "bad_request", fmt::format("malformed request: {}", ec.message())};
      co_return co_await reply_error(e_, false);
    }
  }
  RequestCount counted(worker_.active_requests);
  begin_record();
  struct RecordOnExit {
    Session& session;
    ~RecordOnExit() { session.finish_record(); }
  } record_on_exit{*this};
  auto& req = parser_->get();

  std::size_t field_count = 0;
  fields_.clear();
  for (const auto& f : req) {
    ++field_count;
    fields_.push_back({f.name_string(), f.value()});
  }
  if (field_count > limits.maxHeaders) {
    {
      const ErrorReply e_{
          431, "request_header_fields_too_large",
          fmt::format("request has {} header fields, more than {} (entryPoints.{}.limits.maxHeaders)",
                      field_count, limits.maxHeaders, entry_point_)};
      co_return co_await reply_error(e_, false);
    }
  }
  const bool has_te = req.count(http::field::transfer_encoding) > 0;
  if (has_te && (!parser_->chunked() || req.count(http::field::content_length) > 0)) {
    {
      const ErrorReply e_{
          400, "bad_request",
          "ambiguous message framing: Transfer-Encoding must end in chunked and cannot be combined "
          "with Content-Length (RFC 9112 section 6)"};
      co_return co_await reply_error(e_, false);
    }
  }
  const auto host_header = req[http::field::host];
  if (req.version() >= 11 && req.count(http::field::host) != 1) {
    {
      const ErrorReply e_{400, "bad_request", "an HTTP/1.1 request needs exactly one Host header"};
      co_return co_await reply_error(e_, false);
    }
  }
  original_host_ = host_header;

  const std::string_view target = req.target();
  const auto qmark = target.find('?');
  routing::RequestView& view = view_;
  view = routing::RequestView{};
  view.method = req.method_string();
  view.host = strip_port(host_header);
  view.path = target.substr(0, qmark);
  view.query = qmark == std::string_view::npos ? std::string_view{} : target.substr(qmark + 1);
  view.headers = fields_;
  view.client_ip = client_ip_;
  const bool keep_alive = req.keep_alive();

  if (ep->ping && view.path == ep->ping_path &&
      (req.method() == http::verb::get || req.method() == http::verb::head)) {
    co_return co_await reply_text(200, "OK", keep_alive);
  }

  const Snapshot& snap = *routes->snapshot;
  if ((snap.discovery || !snap.config.models.empty()) && req.method() == http::verb::get &&
      view.path == "/v1/models") {
    // One catalogue for every server behind the gateway, as if it were one model server.
    const std::string list = render_model_list(snap);
    co_return co_await reply_body(200, "application/json", list, keep_alive);
  }

  ModelField model_field = ModelField::missing;
  // Reads the body once, for the first router or service that needs the model.
  auto need_model = [&]() -> awaitable<bool> {
    if (view.model_state != routing::ModelState::not_read) co_return true;
    switch (co_await read_whole_body(limits.maxBodyBytes)) {
      case BodyRead::ok:
        break;
      case BodyRead::too_large: {
        const ErrorReply e{
            413, "request_too_large",
            fmt::format("request body is larger than {} bytes (entryPoints.{}.limits.maxBodyBytes)",
                        limits.maxBodyBytes, entry_point_)};
        co_await reply_error(e, false);
        co_return false;
      }
      case BodyRead::failed:
        co_return false;
    }
    model_field = body_.empty() ? ModelField::missing : extract_model(body_, model_);
    view.model_state =
        model_field == ModelField::present ? routing::ModelState::present : routing::ModelState::absent;
    requested_model_ = model_;
    if (model_field == ModelField::present) {
      // An alias names another model: the server sees the target.
      auto alias = snap.config.models.find(model_);
      if (alias != snap.config.models.end() && !alias->second.target.empty() &&
          alias->second.target != model_ && replace_model(body_, alias->second.target)) {
        model_ = alias->second.target;
      }
    }
    view.model = model_;
    co_return true;
  };

  const Route* match = nullptr;
  for (const auto& route : ep->routes) {
    if (route.rule.needs_model() && !co_await need_model()) co_return false;
    if (route.rule.matches(view)) {
      match = &route;
      break;
    }
  }

  if (!match) {
    if (view.model_state == routing::ModelState::present) {
      {
        const ErrorReply e_{404, "model_not_found",
                            fmt::format("The model `{}` is not served by this gateway. Available models: {}",
                                        model_, model_names(snap, ep->rule_models))};
        co_return co_await reply_error(e_, keep_alive);
      }
    }
    if (view.model_state == routing::ModelState::absent && !body_.empty()) {
      if (model_field == ModelField::not_json) {
        {
          const ErrorReply e_{400, "invalid_json",
                              "the request body is not a JSON object; routing by model needs "
                              "a JSON body with a \"model\" field"};
          co_return co_await reply_error(e_, keep_alive);
        }
      }
      {
        const ErrorReply e_{400, "missing_model",
                            "the JSON body has no string \"model\" field; name the model to use"};
        co_return co_await reply_error(e_, keep_alive);
      }
    }
    const bool sends_body = req.method() == http::verb::post || req.method() == http::verb::put ||
                            req.method() == http::verb::patch;
    if (view.model_state == routing::ModelState::absent && sends_body) {
      {
        const ErrorReply e_{400, "missing_model",
                            "this request has no JSON body with a \"model\" field; routing by "
                            "model needs one"};
        co_return co_await reply_error(e_, keep_alive);
      }
    }
    {
      const ErrorReply e_{
          404, "route_not_found",
          fmt::format("no router on entry point \"{}\" matches {} {}", entry_point_, view.method, view.path)};
      co_return co_await reply_error(e_, keep_alive);
    }
  }

  const bool sends_body_now = req.method() == http::verb::post || req.method() == http::verb::put ||
                              req.method() == http::verb::patch;
  if (snap.services[match->service].lb.discoverModels.enabled && sends_body_now && !co_await need_model()) {
    co_return false;
  }
  record_.router = match->name;
  record_.service = routes->snapshot->services[match->service].name;
  if (view.model_state == routing::ModelState::present) record_.model = model_;
  co_return co_await forward(*ep, *match, *routes, view.model_state != routing::ModelState::not_read);
}

}  // namespace modelgate::proxy
