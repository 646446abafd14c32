// A peer's address as the rules match it (routing::IpAddress: IPv4 as IPv4-mapped IPv6), for the
// HTTP sessions and the TCP relay alike.
#pragma once

#include <algorithm>

#include "net/asio.h"
#include "routing/ip_net.h"

namespace modelgate::proxy {

inline routing::IpAddress to_ip(const asio::ip::address& a) {
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

// The address itself, an IPv4 client on a dual-stack listener as plain IPv4.
inline asio::ip::address unmapped(asio::ip::address a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}

}  // namespace modelgate::proxy
