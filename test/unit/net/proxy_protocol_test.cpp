// The PROXY protocol v2 header (net/proxy_protocol.h), byte for byte against the specification's
// layout: IPv4, IPv6, an IPv4 client on an IPv6 listener, and LOCAL.
#include <gtest/gtest.h>

#include <vector>

#include "net/proxy_protocol.h"

namespace {

using boost::asio::ip::make_address;
using boost::asio::ip::tcp;
using modelgate::net::ProxyV2Header;
using Bytes = std::vector<int>;

Bytes bytes(const ProxyV2Header& h, std::size_t n) { return Bytes(h.begin(), h.begin() + static_cast<long>(n)); }

const Bytes kSig = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

Bytes with_sig(Bytes rest) {
  Bytes out = kSig;
  out.insert(out.end(), rest.begin(), rest.end());
  return out;
}

}  // namespace

TEST(ProxyProtocolV2, Ipv4) {
  ProxyV2Header h{};
  const auto n = modelgate::net::write_proxy_v2(h, {make_address("127.0.0.2"), 40000},
                                                {make_address("127.0.0.1"), 9000});
  EXPECT_EQ(bytes(h, n), with_sig({0x21, 0x11, 0, 12, 127, 0, 0, 2, 127, 0, 0, 1, 0x9C, 0x40, 0x23, 0x28}));
}

TEST(ProxyProtocolV2, Ipv6AndMappedIpv4) {
  ProxyV2Header h{};
  auto n = modelgate::net::write_proxy_v2(h, {make_address("::1"), 1}, {make_address("::1"), 2});
  Bytes want = with_sig({0x21, 0x21, 0, 36});
  for (int i = 0; i < 15; ++i) want.push_back(0);
  want.push_back(1);
  for (int i = 0; i < 15; ++i) want.push_back(0);
  want.push_back(1);
  want.insert(want.end(), {0, 1, 0, 2});
  EXPECT_EQ(bytes(h, n), want);
  // An IPv4 client through a dual-stack listener is written as IPv4.
  n = modelgate::net::write_proxy_v2(h, {make_address("::ffff:10.1.2.3"), 5},
                                     {make_address("::ffff:10.0.0.1"), 6});
  EXPECT_EQ(bytes(h, n), with_sig({0x21, 0x11, 0, 12, 10, 1, 2, 3, 10, 0, 0, 1, 0, 5, 0, 6}));
  // Mixed families: both as IPv6.
  n = modelgate::net::write_proxy_v2(h, {make_address("10.1.2.3"), 5}, {make_address("::1"), 6});
  EXPECT_EQ(n, 52u);
  EXPECT_EQ(h[13], 0x21);
  EXPECT_EQ(h[16 + 10], 0xFF);
  EXPECT_EQ(h[16 + 12], 10);
}

TEST(ProxyProtocolV2, Local) {
  ProxyV2Header h{};
  const auto n = modelgate::net::write_proxy_v2_local(h);
  EXPECT_EQ(bytes(h, n), with_sig({0x20, 0x00, 0, 0}));
}
