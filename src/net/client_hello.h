// The server name (SNI) of a TLS ClientHello, read without terminating TLS: what a TCP router
// with HostSNI needs to choose a server for a connection it passes through encrypted.
//
// Only as much is parsed as leads to the server_name extension (RFC 8446 §4.1.2, the same layout
// in TLS 1.0-1.2, RFC 5246 §7.4.1.2; server_name: RFC 6066 §3):
//   record header   type 22 (handshake), version 3.x, length <= 2^14
//   handshake       type 1 (client_hello), 24-bit length
//   client_hello    version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
//                   compression_methods<1..2^8-1> extensions<0..2^16-1>
//   server_name     list<1..2^16-1> of {name_type(1) = 0 host_name, name<1..2^16-1>}
// Every length is checked against what encloses it, so a lying length is `not_tls`, never a read
// past the input. The ClientHello must fit in the first record (a 16 KiB record holds any hello a
// browser or OpenSSL sends, post-quantum key shares included); one split across records is
// refused as `not_tls` rather than reassembled.
//
// The caller reads the connection into one buffer and calls this after each read: `need_more`
// until the first record is whole. No allocation; the name is a view into the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace modelgate::net {

// The most bytes a caller needs to hold: a record header and the largest record.
inline constexpr std::size_t kMaxClientHelloBytes = 5 + (1u << 14);

enum class HelloStatus : std::uint8_t {
  need_more,  // a prefix of a valid record so far: read more
  sni,        // a ClientHello with a host_name: `name` is it
  no_sni,     // a complete ClientHello without server_name
  not_tls,    // not a TLS ClientHello, or a malformed one
};

struct HelloResult {
  HelloStatus status = HelloStatus::need_more;
  std::string_view name;  // status sni: the host name as sent (not lowercased), into the input
};

HelloResult parse_client_hello(std::span<const std::uint8_t> data);

}  // namespace modelgate::net
