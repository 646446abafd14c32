// The SNI of a TLS ClientHello (net/client_hello.h): real hellos that OpenSSL writes, with and
// without a name, read whole and a byte at a time; truncated, oversized and non-TLS input.
#include <gtest/gtest.h>

#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "net/client_hello.h"

namespace {

using modelgate::net::HelloStatus;
using modelgate::net::parse_client_hello;
using Bytes = std::vector<std::uint8_t>;

// The first flight OpenSSL's client sends, with `sni` as server_name ("" sends none).
Bytes openssl_hello(const std::string& sni) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = SSL_new(ctx);
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  SSL_set_bio(ssl, in, out);
  if (!sni.empty()) SSL_set_tlsext_host_name(ssl, sni.c_str());
  SSL_connect(ssl);  // wants to read the answer: the hello is written by now
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  Bytes hello(data, data + n);
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  return hello;
}

std::string name_of(const Bytes& b) {
  auto r = parse_client_hello(b);
  return r.status == HelloStatus::sni ? std::string(r.name) : "<none>";
}

// A hand-made ClientHello record: extensions given raw.
Bytes hello_with_extensions(const Bytes& extensions) {
  Bytes body = {3, 3};
  body.resize(body.size() + 32, 7);          // random
  body.push_back(0);                          // session id
  body.insert(body.end(), {0, 2, 0x13, 1});   // one cipher suite
  body.insert(body.end(), {1, 0});            // null compression
  body.push_back(static_cast<std::uint8_t>(extensions.size() >> 8));
  body.push_back(static_cast<std::uint8_t>(extensions.size()));
  body.insert(body.end(), extensions.begin(), extensions.end());
  Bytes hs = {1, 0, static_cast<std::uint8_t>(body.size() >> 8), static_cast<std::uint8_t>(body.size())};
  hs.insert(hs.end(), body.begin(), body.end());
  Bytes rec = {22, 3, 1, static_cast<std::uint8_t>(hs.size() >> 8), static_cast<std::uint8_t>(hs.size())};
  rec.insert(rec.end(), hs.begin(), hs.end());
  return rec;
}

Bytes sni_extension(const std::string& name) {
  const auto n = name.size();
  Bytes e = {0, 0, static_cast<std::uint8_t>((n + 5) >> 8), static_cast<std::uint8_t>(n + 5),
             static_cast<std::uint8_t>((n + 3) >> 8), static_cast<std::uint8_t>(n + 3), 0,
             static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
  for (char c : name) e.push_back(static_cast<std::uint8_t>(c));
  return e;
}

}  // namespace

TEST(ClientHello, ReadsTheNameOpenSslSends) {
  EXPECT_EQ(name_of(openssl_hello("api.example.com")), "api.example.com");
  EXPECT_EQ(name_of(openssl_hello("B.Example")), "B.Example");
}

TEST(ClientHello, NoNameIsNoSni) {
  EXPECT_EQ(parse_client_hello(openssl_hello("")).status, HelloStatus::no_sni);
  EXPECT_EQ(parse_client_hello(hello_with_extensions({})).status, HelloStatus::no_sni);
  Bytes other = {0, 10, 0, 2, 0, 0};  // supported_groups, empty list: not a name
  EXPECT_EQ(parse_client_hello(hello_with_extensions(other)).status, HelloStatus::no_sni);
}

TEST(ClientHello, EveryPrefixAsksForMoreAndTheWholeAnswers) {
  const Bytes hello = openssl_hello("split.example");
  for (std::size_t n = 0; n < hello.size(); ++n) {
    const Bytes prefix(hello.begin(), hello.begin() + static_cast<std::ptrdiff_t>(n));
    ASSERT_EQ(parse_client_hello(prefix).status, HelloStatus::need_more) << n;
  }
  Bytes more = hello;
  more.insert(more.end(), {23, 3, 3, 0, 1, 0});  // bytes after the record are not read
  EXPECT_EQ(name_of(more), "split.example");
}

TEST(ClientHello, NotTlsIsRefusedAtOnce) {
  const std::string get = "GET / HTTP/1.1\r\n";
  EXPECT_EQ(parse_client_hello(Bytes(get.begin(), get.end())).status, HelloStatus::not_tls);
  EXPECT_EQ(parse_client_hello(Bytes{22}).status, HelloStatus::need_more);
  EXPECT_EQ(parse_client_hello(Bytes{22, 9}).status, HelloStatus::not_tls);       // version 9.x
  EXPECT_EQ(parse_client_hello(Bytes{22, 3, 1, 0, 9, 2}).status, HelloStatus::not_tls);  // server hello
  EXPECT_EQ(parse_client_hello(Bytes{21, 3, 1, 0, 2}).status, HelloStatus::not_tls);  // an alert
}

TEST(ClientHello, LengthsThatLieAreRefused) {
  EXPECT_EQ(parse_client_hello(Bytes{22, 3, 1, 0x40, 1}).status, HelloStatus::not_tls);  // > 2^14
  EXPECT_EQ(parse_client_hello(Bytes{22, 3, 1, 0, 0}).status, HelloStatus::not_tls);
  Bytes h = hello_with_extensions(sni_extension("a.example"));
  h[h.size() - 10] = 0xFF;  // the server_name list's length runs past its extension
  EXPECT_EQ(parse_client_hello(h).status, HelloStatus::not_tls);
  Bytes long_hs = hello_with_extensions(sni_extension("a.example"));
  long_hs[7] = 0x7F;  // the handshake claims more than the record holds (another record)
  EXPECT_EQ(parse_client_hello(long_hs).status, HelloStatus::not_tls);
  Bytes session = hello_with_extensions({});
  session[5 + 4 + 34] = 33;  // a session id longer than 32
  EXPECT_EQ(parse_client_hello(session).status, HelloStatus::not_tls);
}

TEST(ClientHello, HandMadeNamesAndEdgeCases) {
  EXPECT_EQ(name_of(hello_with_extensions(sni_extension("x.example"))), "x.example");
  Bytes first_other = {0, 10, 0, 0};  // an empty extension before the name
  const Bytes sni = sni_extension("y.example");
  first_other.insert(first_other.end(), sni.begin(), sni.end());
  EXPECT_EQ(name_of(hello_with_extensions(first_other)), "y.example");
  EXPECT_EQ(parse_client_hello(hello_with_extensions(sni_extension(""))).status, HelloStatus::not_tls);
}
