#include "proxy/http_head.h"

#include <fmt/format.h>

#include <array>

#include "proxy/asio.h"

namespace modelgate::proxy {

namespace {

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

// Is `name` listed in the Connection header's comma-separated tokens?
bool named_in_connection(std::string_view connection, std::string_view name) {
  while (!connection.empty()) {
    auto comma = connection.find(',');
    auto token = connection.substr(0, comma);
    while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) token.remove_prefix(1);
    while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.remove_suffix(1);
    if (iequals(token, name)) return true;
    if (comma == std::string_view::npos) break;
    connection.remove_prefix(comma + 1);
  }
  return false;
}

bool skip_field(std::string_view name, std::string_view connection, bool keep_content_length) {
  if (is_hop_by_hop(name)) return true;
  if (iequals(name, "content-length")) return !keep_content_length;  // else rewritten from the framing
  return !connection.empty() && named_in_connection(connection, name);
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name);
  out.append(": ");
  out.append(value);
  out.append("\r\n");
}

void append_framing(std::string& out, const Framing& f) {
  if (f.kind == Framing::length) {
    out.append("Content-Length: ");
    char buf[24];
    auto r = fmt::format_to_n(buf, sizeof buf, "{}", f.size);
    out.append(buf, r.size);
    out.append("\r\n");
  } else if (f.kind == Framing::chunked) {
    out.append("Transfer-Encoding: chunked\r\n");
  }
}

}  // namespace

bool is_hop_by_hop(std::string_view name) {
  static constexpr std::array<std::string_view, 9> kHopByHop = {"connection",
                                                                "keep-alive",
                                                                "proxy-connection",
                                                                "proxy-authenticate",
                                                                "proxy-authorization",
                                                                "te",
                                                                "trailer",
                                                                "transfer-encoding",
                                                                "upgrade"};
  for (auto h : kHopByHop) {
    if (iequals(name, h)) return true;
  }
  return false;
}

void write_request_head(std::string& out, const http1::RequestHead& req, const UpstreamRequestHead& head) {
  out.append(req.method);
  out.push_back(' ');
  out.append(head.base_path);
  out.append(req.target);
  out.append(" HTTP/1.1\r\n");
  append_field(out, "Host", head.host_header);

  const std::string_view connection = req.connection;
  std::string_view prior_xff;
  for (const auto& f : req.headers()) {
    const std::string_view name = f.name;
    if (iequals(name, "host") || iequals(name, "expect")) continue;
    if (skip_field(name, connection, false)) continue;
    if (iequals(name, "x-forwarded-for")) {
      prior_xff = f.value;
      continue;
    }
    if (iequals(name, "x-forwarded-proto") || iequals(name, "x-forwarded-host")) continue;
    append_field(out, name, f.value);
  }
  out.append("X-Forwarded-For: ");
  if (!prior_xff.empty()) {
    out.append(prior_xff);
    out.append(", ");
  }
  out.append(head.client_ip);
  out.append("\r\nX-Forwarded-Proto: http\r\n");
  if (!head.original_host.empty()) append_field(out, "X-Forwarded-Host", head.original_host);
  append_framing(out, head.framing);
  out.append("\r\n");
}

void write_response_head(std::string& out, const http1::ResponseHead& res, const ClientResponseHead& head) {
  out.append("HTTP/1.1 ");
  const int status = res.status;
  const char code[4] = {char('0' + status / 100), char('0' + status / 10 % 10), char('0' + status % 10), ' '};
  out.append(code, 4);
  out.append(res.reason.empty() ? reason_phrase(status) : res.reason);
  out.append("\r\n");
  for (const auto& f : res.headers()) {
    if (skip_field(f.name, res.connection, head.keep_content_length)) continue;
    append_field(out, f.name, f.value);
  }
  if (!head.upstream.empty()) append_field(out, "X-Upstream", head.upstream);
  out.append(head.extra);
  append_framing(out, head.framing);
  if (!head.keep_alive) {
    out.append("Connection: close\r\n");
  } else if (head.http10) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

std::string_view reason_phrase(int status) {
  return http::obsolete_reason(static_cast<http::status>(status));
}

std::size_t chunk_size_line(char (&buf)[20], std::size_t size) {
  auto r = fmt::format_to_n(buf, sizeof buf - 2, "{:x}", size);
  buf[r.size] = '\r';
  buf[r.size + 1] = '\n';
  return r.size + 2;
}

}  // namespace modelgate::proxy
