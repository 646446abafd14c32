// IP addresses and address blocks (CIDR), as rules (ClientIP) and the allow-list and
// source-criterion middlewares read them: parsed once, matched by a byte compare.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modelgate::routing {

// An IPv4 or IPv6 address in network order; IPv4 is stored as IPv4-mapped IPv6 (::ffff:a.b.c.d).
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  static std::optional<IpAddress> parse(std::string_view text);
  bool operator==(const IpAddress&) const = default;
};

// An address block: `base` has its host bits cleared; IPv4 blocks are IPv4-mapped (prefix + 96).
struct IpNet {
  IpAddress base;
  unsigned prefix = 128;
  bool operator==(const IpNet&) const = default;
};

// "10.0.0.0/8", "fd00::/8", "127.0.0.1", "::1"; nullopt with `error` saying what was expected.
std::optional<IpNet> parse_net(std::string_view text, std::string& error);
bool in_net(const IpNet& net, const IpAddress& ip);

}  // namespace modelgate::routing
