#include "runtime/htpasswd.h"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <memory>

namespace modelgate::runtime {

namespace {

using Digest = std::array<unsigned char, 16>;

// MD5 over several pieces (OpenSSL's EVP interface); one context, restarted for each digest, so
// the 1002 digests of one check allocate once.
class Md5 {
 public:
  Md5() : ctx_(EVP_MD_CTX_new(), &EVP_MD_CTX_free) { start(); }
  Md5& start() {
    EVP_DigestInit_ex(ctx_.get(), EVP_md5(), nullptr);
    return *this;
  }
  Md5& add(std::string_view s) {
    EVP_DigestUpdate(ctx_.get(), s.data(), s.size());
    return *this;
  }
  Md5& add(const Digest& d, std::size_t n = 16) {
    EVP_DigestUpdate(ctx_.get(), d.data(), n);
    return *this;
  }
  Digest done() {
    Digest d{};
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_.get(), d.data(), &n);
    return d;
  }

 private:
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx_;
};

// crypt(3)'s base-64 alphabet, least significant 6 bits first.
void to64(std::string& out, unsigned long v, int n) {
  static constexpr char kAlphabet[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  while (n-- > 0) {
    out += kAlphabet[v & 0x3f];
    v >>= 6;
  }
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string sha1_base64(std::string_view password) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(password.data(), password.size(), digest, &n, EVP_sha1(), nullptr);
  unsigned char encoded[64];
  const int len = EVP_EncodeBlock(encoded, digest, static_cast<int>(n));
  return std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(len));
}

bool crypt_matches(std::string_view hash, std::string_view password) {
  const std::string phrase(password);
  const std::string setting(hash);
  crypt_data data{};
  const char* out = crypt_r(phrase.c_str(), setting.c_str(), &data);
  return out != nullptr && out[0] != '*' && equal_constant_time(out, hash);
}

}  // namespace

// Poul-Henning Kamp's MD5-crypt, as published in FreeBSD's documentation of crypt(3).
std::string md5_crypt(std::string_view password, std::string_view salt, std::string_view magic) {
  salt = salt.substr(0, std::min(salt.find('$'), std::size_t{8}));
  Md5 md5;
  const Digest alternate = md5.add(password).add(salt).add(password).done();
  Md5& first = md5.start();
  first.add(password).add(magic).add(salt);
  for (std::size_t left = password.size(); left > 0; left -= std::min(left, std::size_t{16})) {
    first.add(alternate, std::min(left, std::size_t{16}));
  }
  for (std::size_t i = password.size(); i != 0; i >>= 1) {
    first.add((i & 1) != 0 ? std::string_view("\0", 1) : password.substr(0, 1));
  }
  Digest d = first.done();
  // 1000 rounds to slow down guessing.
  for (int i = 0; i < 1000; ++i) {
    Md5& round = md5.start();
    if ((i & 1) != 0) round.add(password); else round.add(d);
    if (i % 3 != 0) round.add(salt);
    if (i % 7 != 0) round.add(password);
    if ((i & 1) != 0) round.add(d); else round.add(password);
    d = round.done();
  }
  std::string out(magic);
  out.append(salt);
  out += '$';
  to64(out, (d[0] << 16) | (d[6] << 8) | d[12], 4);
  to64(out, (d[1] << 16) | (d[7] << 8) | d[13], 4);
  to64(out, (d[2] << 16) | (d[8] << 8) | d[14], 4);
  to64(out, (d[3] << 16) | (d[9] << 8) | d[15], 4);
  to64(out, (d[4] << 16) | (d[10] << 8) | d[5], 4);
  to64(out, d[11], 2);
  return out;
}

bool htpasswd_matches(std::string_view hash, std::string_view password) {
  if (hash.starts_with("{SHA}")) return equal_constant_time(sha1_base64(password), hash.substr(5));
  if (hash.starts_with("$apr1$")) {
    const std::string_view salt = hash.substr(6);
    return equal_constant_time(md5_crypt(password, salt, "$apr1$"), hash);
  }
  if (hash.starts_with("$2y$") || hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$1$")) {
    return crypt_matches(hash, password);
  }
  return false;  // the loader accepts no other format
}

}  // namespace modelgate::runtime
