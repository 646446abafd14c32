// Base64 (RFC 4648 §4, the standard alphabet with '=' padding) through OpenSSL's EVP block
// functions, for protocols that carry bytes in JSON strings: etcd's JSON gateway sends every key
// and value this way (protobuf `bytes` in its JSON mapping).
//
// EVP_DecodeBlock ignores padding when it counts output bytes (it always yields 3 bytes per 4
// characters), so decode() removes what the padding stands for itself.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace modelgate::text {

std::string base64_encode(std::string_view bytes);
// nullopt when `text` is not base64 (a length not a multiple of 4, a character outside the
// alphabet). Empty text decodes to empty bytes.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace modelgate::text
