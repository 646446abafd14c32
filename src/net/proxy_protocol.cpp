// See proxy_protocol.h for the header's layout.
#include "net/proxy_protocol.h"

#include <cstring>

namespace modelgate::net {

namespace {

constexpr std::uint8_t kSignature[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                         0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

using boost::asio::ip::address;

// An IPv4 address seen through an IPv6 socket becomes plain IPv4 again.
address unmapped(const address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

std::size_t header(ProxyV2Header& out, std::uint8_t command, std::uint8_t family, std::uint16_t length) {
  std::memcpy(out.data(), kSignature, sizeof kSignature);
  out[12] = command;
  out[13] = family;
  out[14] = static_cast<std::uint8_t>(length >> 8);
  out[15] = static_cast<std::uint8_t>(length);
  return 16;
}

void put_port(std::uint8_t* at, std::uint16_t port) {
  at[0] = static_cast<std::uint8_t>(port >> 8);
  at[1] = static_cast<std::uint8_t>(port);
}

}  // namespace

std::size_t write_proxy_v2(ProxyV2Header& out, const boost::asio::ip::tcp::endpoint& source,
                           const boost::asio::ip::tcp::endpoint& destination) {
  const address src = unmapped(source.address());
  const address dst = unmapped(destination.address());
  std::uint8_t* body = out.data() + 16;
  if (src.is_v4() && dst.is_v4()) {
    header(out, 0x21, 0x11, 12);
    const auto s = src.to_v4().to_bytes();
    const auto d = dst.to_v4().to_bytes();
    std::memcpy(body, s.data(), 4);
    std::memcpy(body + 4, d.data(), 4);
    put_port(body + 8, source.port());
    put_port(body + 10, destination.port());
    return 16 + 12;
  }
  auto v6 = [](const address& a) {
    return a.is_v6() ? a.to_v6() : boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4());
  };
  header(out, 0x21, 0x21, 36);
  const auto s = v6(src).to_bytes();
  const auto d = v6(dst).to_bytes();
  std::memcpy(body, s.data(), 16);
  std::memcpy(body + 16, d.data(), 16);
  put_port(body + 32, source.port());
  put_port(body + 34, destination.port());
  return 16 + 36;
}

std::size_t write_proxy_v2_local(ProxyV2Header& out) { return header(out, 0x20, 0x00, 0); }

}  // namespace modelgate::net
