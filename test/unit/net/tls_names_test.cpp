// SNI's choice of certificate by name (net/tls.h): exact names, and wildcards for one label only
// (RFC 6125 section 6.4.3).
#include <gtest/gtest.h>

#include "net/tls.h"

using modelgate::net::name_matches;

TEST(TlsNames, ExactNamesAndOneLabelWildcards) {
  EXPECT_TRUE(name_matches("api.example.com", "api.example.com"));
  EXPECT_FALSE(name_matches("api.example.com", "example.com"));
  EXPECT_TRUE(name_matches("*.example.com", "api.example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "a.b.example.com"));
  EXPECT_FALSE(name_matches("*.example.com", ".example.com"));
  EXPECT_FALSE(name_matches("*.example.com", "api.example.org"));
  EXPECT_FALSE(name_matches("api.*.com", "api.example.com"));
}
