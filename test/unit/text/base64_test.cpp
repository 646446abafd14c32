// Base64 through OpenSSL (text/base64.h): RFC 4648 §10 test vectors both ways, bytes that are not
// text, and what is not base64.
#include <gtest/gtest.h>

#include "text/base64.h"

namespace mx = modelgate::text;

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(mx::base64_encode(plain), encoded) << plain;
    EXPECT_EQ(mx::base64_decode(encoded), std::string(plain)) << encoded;
  }
}

TEST(Base64, BinaryBytesRoundTrip) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (std::size_t n = 0; n <= bytes.size(); n += 37) {
    const auto part = bytes.substr(0, n);
    EXPECT_EQ(mx::base64_decode(mx::base64_encode(part)), part) << n;
  }
}

TEST(Base64, RefusesWhatIsNotBase64) {
  EXPECT_FALSE(mx::base64_decode("Zm9"));    // not a multiple of 4
  EXPECT_FALSE(mx::base64_decode("Zm9v!A==")); // outside the alphabet
}
