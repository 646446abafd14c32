// Values with a syntax of their own in a configuration file: sizes, listening addresses, server
// URLs, hashKey (durations are parse_duration in loader.h), and the ASCII case-insensitive
// comparisons Traefik's spellings need.
//
// Pure functions of text: no YAML and no diagnostics. A parser that can fail in several ways
// returns "" on success, else what is wrong ("the port 70000 is above 65535"), for the caller to
// put into a message that names the key.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace modelgate::config::detail {

char lower_char(char c);  // ASCII only
std::string lower(std::string_view s);
bool iequal(std::string_view a, std::string_view b);  // equal ignoring ASCII case
bool is_digits(std::string_view s);                    // non-empty, only 0-9

// A listening address: ":8080", "HOST:8080", "[::1]:8080"; Traefik's "/tcp" suffix is accepted.
// Port 0 (any free port) is allowed. IPv6 hosts are stored without brackets.
std::string parse_listen_address(std::string_view a, std::string& host, std::uint16_t& port);
bool is_wildcard(std::string_view host);  // "", "0.0.0.0" or "::": every address
bool is_loopback(std::string_view host);  // localhost, ::1, 127.x.y.z

// "http[s]://HOST[:PORT][/BASE]" into url, host, port, tls and basePath of `s` (left alone on
// failure). Any other scheme is refused.
std::string parse_server_url(std::string_view url, Server& s);

// A TCP server's "HOST:PORT" ("[::1]:8000" for IPv6) into url, host and port of `s`.
std::string parse_tcp_address(std::string_view address, Server& s);

// "16384", "16KiB", "32MiB", "1MB" (units ignore case; KB = 1000, KiB = 1024); nullopt when
// malformed or too large for size_t.
std::optional<std::size_t> parse_size(std::string_view t);

// client_ip, header:NAME, cookie:NAME (NAME an HTTP token) or body:FIELD (non-empty); the same
// forms balancing::HashKey::parse accepts.
bool valid_hash_key(std::string_view k);

}  // namespace modelgate::config::detail
