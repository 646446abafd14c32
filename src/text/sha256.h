// SHA-256 (FIPS 180-4) through OpenSSL's EVP interface, for API keys: the gateway keeps and
// compares only digests, so a configured secret never has to be held and a presented one is
// looked up by its digest (docs/auth.md).
//
// One EVP_MD_CTX per thread, made on first use and reused: hashing a presented key on the request
// path allocates nothing after a thread's first request.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace modelgate::text {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(std::string_view data);
// 64 hex digits (either case) into a digest; nullopt for anything else.
std::optional<Sha256> parse_sha256_hex(std::string_view hex);
std::string sha256_hex(const Sha256& digest);
// Equal digests, in time that does not depend on where they differ (CRYPTO_memcmp).
bool same_digest(const Sha256& a, const Sha256& b);

}  // namespace modelgate::text
