// Checking a password against an htpasswd hash, the formats Apache's `htpasswd` writes and
// Traefik's basicAuth reads:
//   $2y$ / $2a$ / $2b$  bcrypt            libxcrypt's crypt_r
//   $1$                 MD5-crypt         libxcrypt's crypt_r
//   $apr1$              Apache's MD5-crypt: MD5-crypt with the magic "$apr1$", which libxcrypt
//                       does not know; computed here with OpenSSL's MD5 after the published
//                       algorithm (Poul-Henning Kamp's md5crypt, 1000 rounds)
//   {SHA}               base64 of the SHA-1 of the password (OpenSSL), unsalted: weak, accepted
//                       because existing files have it
// The final comparison is constant-time (CRYPTO_memcmp). bcrypt is slow on purpose (milliseconds
// per check at cost 5, tens at cost 10): it runs on the worker that serves the request.
#pragma once

#include <string>
#include <string_view>

namespace modelgate::runtime {

bool htpasswd_matches(std::string_view hash, std::string_view password);

// The $apr1$ (or, with magic "$1$", the MD5-crypt) hash of `password` with `salt` (at most 8
// characters used): "$apr1$salt$digest". Exposed for tests.
std::string md5_crypt(std::string_view password, std::string_view salt, std::string_view magic);

}  // namespace modelgate::runtime
