// Parsing of the values with a syntax of their own: sizes, durations, addresses, URLs, hashKey.
// See values.h; parse_duration is declared in loader.h, as part of the public API.
#include "config/values.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <utility>

#include <fmt/format.h>

#include "config/loader.h"

namespace modelgate::config::detail {

char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = lower_char(c);
  return r;
}

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(),
                    [](char x, char y) { return lower_char(x) == lower_char(y); });
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

namespace {

bool valid_host_name(std::string_view h) {
  return !h.empty() && std::all_of(h.begin(), h.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_';
  });
}

bool valid_ipv6(std::string_view h) {
  return !h.empty() && h.find(':') != std::string_view::npos &&
         std::all_of(h.begin(), h.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
                  c == ':' || c == '.';
         });
}

std::string parse_port(std::string_view p, bool allow_zero, std::uint16_t& port) {
  if (p.empty()) return "the port is missing";
  unsigned value = 0;
  auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
  if (ec != std::errc() || end != p.data() + p.size() || !is_digits(p)) {
    return fmt::format("the port \"{}\" is not a number", p);
  }
  if (value > 65535) return fmt::format("the port {} is above 65535", value);
  if (value == 0 && !allow_zero) return "the port must not be 0";
  port = static_cast<std::uint16_t>(value);
  return {};
}

// Splits "HOST:PORT", "[IPv6]:PORT" or, when `default_port` is set, a bare "HOST"/"[IPv6]".
std::string split_host_port(std::string_view a, std::optional<std::uint16_t> default_port,
                            bool allow_zero, std::string& host, std::uint16_t& port) {
  std::string_view h;
  std::optional<std::string_view> p;
  if (a.starts_with('[')) {
    const auto close = a.find(']');
    if (close == std::string_view::npos) return "\"]\" is missing after the IPv6 address";
    h = a.substr(1, close - 1);
    const std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') return fmt::format("unexpected \"{}\" after \"]\"", rest);
      p = rest.substr(1);
    }
    if (!valid_ipv6(h)) return fmt::format("\"{}\" is not an IPv6 address", h);
  } else {
    const auto colon = a.rfind(':');
    if (colon != std::string_view::npos) {
      h = a.substr(0, colon);
      p = a.substr(colon + 1);
      if (h.find(':') != std::string_view::npos) {
        return "an IPv6 address must be written in brackets, e.g. [::1]:8080";
      }
    } else {
      h = a;
    }
    if (!h.empty() && !valid_host_name(h)) return fmt::format("\"{}\" is not a valid host", h);
  }
  if (p) {
    if (auto why = parse_port(*p, allow_zero, port); !why.empty()) return why;
  } else if (default_port) {
    port = *default_port;
  } else {
    return "the port is missing";
  }
  host = std::string(h);
  return {};
}

bool valid_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

}  // namespace

std::string parse_listen_address(std::string_view a, std::string& host, std::uint16_t& port) {
  if (a.ends_with("/tcp")) a.remove_suffix(4);
  if (a.ends_with("/udp")) return "UDP is not supported";
  return split_host_port(a, std::nullopt, /*allow_zero=*/true, host, port);
}

std::string parse_tcp_address(std::string_view address, Server& s) {
  if (address.find("://") != std::string_view::npos) return "a TCP server has no scheme";
  std::string host;
  std::uint16_t port = 0;
  if (auto why = split_host_port(address, std::nullopt, /*allow_zero=*/false, host, port); !why.empty()) {
    return why;
  }
  if (host.empty()) return "the host is missing";
  s.url = std::string(address);
  s.host = std::move(host);
  s.port = port;
  return {};
}

bool is_wildcard(std::string_view host) { return host.empty() || host == "0.0.0.0" || host == "::"; }

bool is_loopback(std::string_view host) {
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}

std::string parse_server_url(std::string_view url, Server& s) {
  const auto sep = url.find("://");
  if (sep == std::string_view::npos) return "the scheme is missing";
  const bool tls = iequal(url.substr(0, sep), "https");
  if (!tls && !iequal(url.substr(0, sep), "http")) {
    return fmt::format("the scheme \"{}\" is not supported", url.substr(0, sep));
  }
  const std::uint16_t default_port = tls ? 443 : 80;
  const std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) return "a query or fragment is not allowed";
  const auto slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) return "user information (\"user@\") is not supported";
  std::string host;
  std::uint16_t port = default_port;
  if (auto why = split_host_port(authority, default_port, /*allow_zero=*/false, host, port);
      !why.empty()) {
    return why;
  }
  if (host.empty()) return "the host is missing";
  while (path.ends_with('/')) path.remove_suffix(1);
  s.url = std::string(url);
  s.host = std::move(host);
  s.port = port;
  s.tls = tls;
  s.basePath = std::string(path);
  return {};
}

std::optional<std::size_t> parse_size(std::string_view t) {
  std::size_t i = 0;
  while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
  if (i == 0) return std::nullopt;
  std::uint64_t value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + i, value);
  if (ec != std::errc() || end != t.data() + i) return std::nullopt;
  std::string_view unit = t.substr(i);
  if (unit.starts_with(' ')) unit.remove_prefix(1);
  static constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"", 1},          {"b", 1},          {"kb", 1000},        {"mb", 1000 * 1000},
      {"gb", 1000'000'000}, {"kib", 1024}, {"mib", 1024 * 1024}, {"gib", 1024ull * 1024 * 1024}};
  for (const auto& [name, factor] : kUnits) {
    if (iequal(unit, name)) {
      if (value > SIZE_MAX / factor) return std::nullopt;
      return static_cast<std::size_t>(value * factor);
    }
  }
  return std::nullopt;
}

bool valid_hash_key(std::string_view k) {
  if (k == "client_ip") return true;
  if (k.starts_with("header:")) return valid_token(k.substr(7));
  if (k.starts_with("cookie:")) return valid_token(k.substr(7));
  if (k.starts_with("body:")) return !k.substr(5).empty();
  return false;
}

}  // namespace modelgate::config::detail

namespace modelgate::config {

// Go's time.ParseDuration restricted to ms, s, m and h (a config has no use for finer units),
// plus Traefik's bare integer meaning seconds. Fractions are allowed ("1.5s"); the result is
// rounded down to the millisecond.
std::optional<Duration> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  constexpr std::uint64_t kMaxWhole = 1'000'000'000'000ull;  // keeps every product in range
  constexpr std::uint64_t kMaxMs = 1ull << 62;
  if (detail::is_digits(text)) {
    std::uint64_t seconds = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || seconds > kMaxWhole) return std::nullopt;
    return Duration(static_cast<Duration::rep>(seconds * 1000));
  }
  std::uint64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint64_t whole = 0;
    std::uint64_t frac = 0;
    std::uint64_t frac_scale = 1;
    std::size_t digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      whole = whole * 10 + static_cast<std::uint64_t>(text[i] - '0');
      if (whole > kMaxWhole) return std::nullopt;
      ++i;
      ++digits;
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        if (frac_scale < 1'000'000'000ull) {
          frac = frac * 10 + static_cast<std::uint64_t>(text[i] - '0');
          frac_scale *= 10;
        }
        ++i;
        ++digits;
      }
    }
    if (digits == 0) return std::nullopt;
    std::uint64_t unit = 0;
    const std::string_view rest = text.substr(i);
    if (rest.starts_with("ms")) {
      unit = 1;
      i += 2;
    } else if (rest.starts_with("s")) {
      unit = 1000;
      ++i;
    } else if (rest.starts_with("m")) {
      unit = 60 * 1000;
      ++i;
    } else if (rest.starts_with("h")) {
      unit = 3600 * 1000;
      ++i;
    } else {
      return std::nullopt;
    }
    total += whole * unit + frac * unit / frac_scale;
    if (total > kMaxMs) return std::nullopt;
  }
  return Duration(static_cast<Duration::rep>(total));
}

}  // namespace modelgate::config
