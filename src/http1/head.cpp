#include "http1/head.h"

#include <fmt/format.h>

#include <array>

#include "net/asio.h"

namespace modelgate::http1 {

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

// The fields a forwarded head treats specially. Sorted out by length first: a head has a dozen
// fields and this runs for each of them on every request.
enum class Special : std::uint8_t { none, hop_by_hop, content_length, host, expect, xff, xf_other };

Special classify(std::string_view name) {
  switch (name.size()) {
    case 2:
      return iequals(name, "te") ? Special::hop_by_hop : Special::none;
    case 4:
      return iequals(name, "host") ? Special::host : Special::none;
    case 6:
      return iequals(name, "expect") ? Special::expect : Special::none;
    case 7:
      return iequals(name, "trailer") || iequals(name, "upgrade") ? Special::hop_by_hop : Special::none;
    case 10:
      return iequals(name, "connection") || iequals(name, "keep-alive") ? Special::hop_by_hop : Special::none;
    case 14:
      return iequals(name, "content-length") ? Special::content_length : Special::none;
    case 15:
      return iequals(name, "x-forwarded-for") ? Special::xff : Special::none;
    case 16:
      if (iequals(name, "proxy-connection")) return Special::hop_by_hop;
      return iequals(name, "x-forwarded-host") ? Special::xf_other : Special::none;
    case 17:
      if (iequals(name, "transfer-encoding")) return Special::hop_by_hop;
      return iequals(name, "x-forwarded-proto") ? Special::xf_other : Special::none;
    case 18:
      return iequals(name, "proxy-authenticate") ? Special::hop_by_hop : Special::none;
    case 19:
      return iequals(name, "proxy-authorization") ? Special::hop_by_hop : Special::none;
    default:
      return Special::none;
  }
}

bool skip_field(Special kind, std::string_view name, std::string_view connection, bool keep_content_length) {
  if (kind == Special::hop_by_hop) return true;
  if (kind == Special::content_length) return !keep_content_length;  // else rewritten from the framing
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

void write_request_head(std::string& out, const http1::RequestHead& req, const UpstreamRequestHead& head) {
  out.append(req.method);
  out.push_back(' ');
  out.append(head.base_path);
  out.append(head.target.empty() ? req.target : head.target);
  out.append(" HTTP/1.1\r\n");
  append_field(out, "Host", head.host_header);

  const std::string_view connection = req.connection;
  std::string_view prior_xff;
  for (const auto& f : req.headers()) {
    const Special kind = classify(f.name);
    if (kind == Special::host || kind == Special::expect || kind == Special::xf_other) continue;
    if (kind == Special::xff) {
      prior_xff = f.value;
      continue;
    }
    if (skip_field(kind, f.name, connection, false)) continue;
    if (head.edits && head.edits->touches(f.name)) continue;
    append_field(out, f.name, f.value);
  }
  if (head.edits) head.edits->append_to(out);
  out.append("X-Forwarded-For: ");
  if (!prior_xff.empty()) {
    out.append(prior_xff);
    out.append(", ");
  }
  out.append(head.client_ip);
  out.append(head.tls ? "\r\nX-Forwarded-Proto: https\r\n" : "\r\nX-Forwarded-Proto: http\r\n");
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
    if (skip_field(classify(f.name), f.name, res.connection, head.keep_content_length)) continue;
    if (head.edits && head.edits->touches(f.name)) continue;
    append_field(out, f.name, f.value);
  }
  if (head.edits) head.edits->append_to(out);
  if (!head.upstream.empty()) append_field(out, "X-Upstream", head.upstream);
  out.append(head.extra);
  append_framing(out, head.framing);
  out.append(connection_field(head.keep_alive, head.http10));
  out.append("\r\n");
}

std::string_view connection_field(bool keep_alive, bool http10) {
  if (!keep_alive) return "Connection: close\r\n";
  return http10 ? "Connection: keep-alive\r\n" : "";
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

}  // namespace modelgate::http1
