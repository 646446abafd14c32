// Endpoints as users write them: etcd's own `--endpoints` form (host:port, comma-separated) and
// Traefik's (`endpoints: ["127.0.0.1:2379"]`), with or without http://.
#include <charconv>

#include "etcd/client.h"

namespace modelgate::etcd {

namespace {

constexpr std::uint16_t kDefaultPort = 2379;

bool parse_port(std::string_view text, std::uint16_t& port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value == 0 || value > 65535) {
    return false;
  }
  port = static_cast<std::uint16_t>(value);
  return true;
}

}  // namespace

std::string Endpoint::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<Endpoint> parse_endpoint(std::string_view text) {
  if (text.starts_with("http://")) text.remove_prefix(7);
  if (text.ends_with('/')) text.remove_suffix(1);
  if (text.empty() || text.find_first_of("/ \t@?#") != std::string_view::npos) return std::nullopt;
  Endpoint endpoint;
  endpoint.port = kDefaultPort;
  if (text.front() == '[') {  // [v6] or [v6]:port
    const auto close = text.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    endpoint.host = std::string(text.substr(1, close - 1));
    const auto after = text.substr(close + 1);
    if (!after.empty() && (after.front() != ':' || !parse_port(after.substr(1), endpoint.port))) return std::nullopt;
    return endpoint;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    endpoint.host = std::string(text);
    return endpoint;
  }
  if (text.find(':') != colon || colon == 0 || !parse_port(text.substr(colon + 1), endpoint.port)) {
    return std::nullopt;  // a bare IPv6 address needs brackets
  }
  endpoint.host = std::string(text.substr(0, colon));
  return endpoint;
}

std::optional<std::vector<Endpoint>> parse_endpoints(std::string_view list, std::string* bad) {
  std::vector<Endpoint> endpoints;
  while (!list.empty()) {
    const auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    auto endpoint = parse_endpoint(item);
    if (!endpoint) {
      if (bad) *bad = std::string(item);
      return std::nullopt;
    }
    endpoints.push_back(std::move(*endpoint));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  if (endpoints.empty()) {
    if (bad) bad->clear();
    return std::nullopt;
  }
  return endpoints;
}

}  // namespace modelgate::etcd
