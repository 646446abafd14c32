#include "routing/ip_net.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

namespace modelgate::routing {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  char buffer[INET6_ADDRSTRLEN];  // inet_pton wants a C string; no IP text is longer
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress ip;
  if (text.find(':') == std::string_view::npos) {
    std::uint8_t v4[4];
    if (inet_pton(AF_INET, buffer, v4) != 1) return std::nullopt;
    ip.bytes[10] = 0xff;
    ip.bytes[11] = 0xff;
    std::memcpy(ip.bytes.data() + 12, v4, 4);
    return ip;
  }
  if (inet_pton(AF_INET6, buffer, ip.bytes.data()) != 1) return std::nullopt;
  return ip;
}

// Host bits are cleared, as Go's net.ParseCIDR does.
std::optional<IpNet> parse_net(std::string_view text, std::string& error) {
  const std::size_t slash = text.find('/');
  const std::string_view address = text.substr(0, slash);
  const auto ip = IpAddress::parse(address);
  if (!ip) {
    error = "expected an IPv4 or IPv6 address or CIDR such as `10.0.0.0/8` or `fd00::/8`";
    return std::nullopt;
  }
  const bool v4 = address.find(':') == std::string_view::npos;
  const unsigned max_prefix = v4 ? 32 : 128;
  IpNet net{*ip, 128};
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    unsigned prefix = 0;
    const bool numeric =
        !digits.empty() && digits.size() <= 3 && std::all_of(digits.begin(), digits.end(), is_digit);
    if (numeric) {
      for (char c : digits) prefix = prefix * 10 + static_cast<unsigned>(c - '0');
    }
    if (!numeric || prefix > max_prefix) {
      error = "prefix length must be a number from 0 to " + std::to_string(max_prefix);
      return std::nullopt;
    }
    net.prefix = v4 ? prefix + 96 : prefix;
  }
  for (unsigned bit = net.prefix; bit < 128; ++bit) {
    net.base.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
  }
  return net;
}

bool in_net(const IpNet& net, const IpAddress& ip) {
  const unsigned whole = net.prefix / 8;
  const unsigned bits = net.prefix % 8;
  if (std::memcmp(net.base.bytes.data(), ip.bytes.data(), whole) != 0) return false;
  if (bits == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
  return (ip.bytes[whole] & mask) == net.base.bytes[whole];
}

}  // namespace modelgate::routing
