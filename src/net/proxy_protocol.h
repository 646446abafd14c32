// The PROXY protocol version 2 header (haproxy.org/download/2.9/doc/proxy-protocol.txt, §2.2):
// the binary preamble a proxy writes first on its connection to a server, so that the server
// learns the client's address and port although the TCP connection comes from the proxy.
//
//   12-byte signature  \r\n\r\n\0\r\nQUIT\n
//   ver_cmd            0x21: version 2, PROXY (a relayed connection); 0x20: LOCAL (the proxy's own,
//                      e.g. a health check: the server uses the real addresses)
//   family             0x11 TCP over IPv4, 0x21 TCP over IPv6, 0x00 UNSPEC (LOCAL)
//   length             16-bit, bytes that follow: 12 (IPv4), 36 (IPv6), 0 (LOCAL)
//   addresses          source address, destination address, source port, destination port
//
// An IPv4 client on an IPv6 listener arrives as a v4-mapped address (::ffff:a.b.c.d); it is
// written as IPv4 when both ends are, else both as IPv6. No TLVs are written.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include <boost/asio/ip/tcp.hpp>

namespace modelgate::net {

inline constexpr std::size_t kProxyV2MaxBytes = 16 + 36;
using ProxyV2Header = std::array<std::uint8_t, kProxyV2MaxBytes>;

// The header for a connection from `source` (the client) to `destination` (the listener's address
// the client reached); returns how many bytes of `out` it fills.
std::size_t write_proxy_v2(ProxyV2Header& out, const boost::asio::ip::tcp::endpoint& source,
                           const boost::asio::ip::tcp::endpoint& destination);
// A LOCAL header (16 bytes): the connection is the proxy's own.
std::size_t write_proxy_v2_local(ProxyV2Header& out);

}  // namespace modelgate::net
