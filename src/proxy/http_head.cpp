#include "proxy/http_head.h"

#include <fmt/format.h>

#include <array>
#include <boost/beast/core/string.hpp>

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

template <class Fields>
bool skip_field(const Fields& fields, std::string_view name, std::string_view connection) {
  if (is_hop_by_hop(name)) return true;
  if (iequals(name, "content-length")) return true;  // rewritten from the actual framing
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

void write_request_head(std::string& out, const http::request_header<>& req,
                        const UpstreamRequestHead& head) {
  out.append(req.method_string());
  out.push_back(' ');
  out.append(head.base_path);
  out.append(req.target());
  out.append(" HTTP/1.1\r\n");
  append_field(out, "Host", head.host_header);

  const std::string_view connection = req[http::field::connection];
  std::string_view prior_xff;
  for (const auto& f : req) {
    const std::string_view name = f.name_string();
    if (f.name() == http::field::host || f.name() == http::field::expect) continue;
    if (skip_field(req, name, connection)) continue;
    if (iequals(name, "x-forwarded-for")) {
      prior_xff = f.value();
      continue;
    }
    if (iequals(name, "x-forwarded-proto") || iequals(name, "x-forwarded-host")) continue;
    append_field(out, name, f.value());
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

void write_response_head(std::string& out, const http::response_header<>& res,
                         const ClientResponseHead& head) {
  out.append("HTTP/1.1 ");
  char code[4] = {char('0' + res.result_int() / 100), char('0' + res.result_int() / 10 % 10),
                  char('0' + res.result_int() % 10), ' '};
  out.append(code, 4);
  const std::string_view reason = res.reason();
  if (reason.empty()) {
    auto r = http::obsolete_reason(res.result());
    out.append(r.data(), r.size());
  } else {
    out.append(reason);
  }
  out.append("\r\n");
  const std::string_view connection = res[http::field::connection];
  for (const auto& f : res) {
    const std::string_view name = f.name_string();
    if (skip_field(res, name, connection)) continue;
    append_field(out, name, f.value());
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

std::size_t chunk_size_line(char (&buf)[20], std::size_t size) {
  auto r = fmt::format_to_n(buf, sizeof buf - 2, "{:x}", size);
  buf[r.size] = '\r';
  buf[r.size + 1] = '\n';
  return r.size + 2;
}

}  // namespace modelgate::proxy
