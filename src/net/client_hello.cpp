// See client_hello.h for the layout walked here.
#include "net/client_hello.h"

namespace modelgate::net {

namespace {

// A bounds-checked reader over one length-delimited part of the input.
class Reader {
 public:
  explicit Reader(std::span<const std::uint8_t> d) : d_(d) {}
  bool ok() const { return ok_; }
  std::size_t left() const { return d_.size() - at_; }
  std::uint32_t number(std::size_t bytes) {
    if (!take(bytes)) return 0;
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < bytes; ++i) v = (v << 8) | d_[at_ - bytes + i];
    return v;
  }
  // The next `n` bytes as a reader of their own.
  Reader part(std::size_t n) {
    if (!take(n)) return Reader({});
    return Reader(d_.subspan(at_ - n, n));
  }
  bool skip(std::size_t n) { return take(n); }
  std::string_view text() const {
    return {reinterpret_cast<const char*>(d_.data()), d_.size()};
  }

 private:
  bool take(std::size_t n) {
    if (!ok_ || n > left()) return ok_ = false;
    at_ += n;
    return true;
  }
  std::span<const std::uint8_t> d_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

constexpr std::uint8_t kHandshake = 22;
constexpr std::uint8_t kClientHello = 1;
constexpr std::uint16_t kServerName = 0;
constexpr std::uint8_t kHostName = 0;

HelloResult bad() { return {HelloStatus::not_tls, {}}; }

// The server_name extension's body: the first host_name entry.
HelloResult server_name(Reader ext) {
  Reader list = ext.part(ext.number(2));
  if (!ext.ok() || ext.left() != 0) return bad();
  while (list.ok() && list.left() > 0) {
    const auto type = list.number(1);
    Reader name = list.part(list.number(2));
    if (!list.ok()) return bad();
    if (type != kHostName) continue;
    const std::string_view n = name.text();
    if (n.empty() || n.size() > 255 || n.find('\0') != std::string_view::npos) return bad();
    return {HelloStatus::sni, n};
  }
  return list.ok() ? HelloResult{HelloStatus::no_sni, {}} : bad();
}

}  // namespace

HelloResult parse_client_hello(std::span<const std::uint8_t> data) {
  // Reject early what cannot start a record, so garbage is closed at its first bytes.
  if (!data.empty() && data[0] != kHandshake) return bad();
  if (data.size() >= 2 && data[1] != 3) return bad();
  if (data.size() < 5) return {HelloStatus::need_more, {}};
  const std::size_t length = (std::size_t{data[3]} << 8) | data[4];
  if (length == 0 || length > (1u << 14)) return bad();
  if (data.size() < 5 + length) {
    // The handshake header may already say the hello is not one.
    if (data.size() >= 6 && data[5] != kClientHello) return bad();
    return {HelloStatus::need_more, {}};
  }
  Reader record(data.subspan(5, length));
  if (record.number(1) != kClientHello) return bad();
  Reader hello = record.part(record.number(3));
  if (!record.ok()) return bad();  // continues in another record: not handled
  hello.skip(2 + 32);                                // client_version, random
  const auto session = hello.number(1);
  if (session > 32) return bad();
  hello.skip(session);
  const auto suites = hello.number(2);
  if (suites < 2 || suites % 2 != 0) return bad();
  hello.skip(suites);
  const auto compression = hello.number(1);
  if (compression < 1) return bad();
  hello.skip(compression);
  if (!hello.ok()) return bad();
  if (hello.left() == 0) return {HelloStatus::no_sni, {}};  // no extensions at all (TLS 1.0 style)
  Reader extensions = hello.part(hello.number(2));
  if (!hello.ok() || hello.left() != 0) return bad();
  while (extensions.left() > 0) {
    const auto type = extensions.number(2);
    Reader body = extensions.part(extensions.number(2));
    if (!extensions.ok()) return bad();
    if (type == kServerName) return server_name(body);
  }
  return {HelloStatus::no_sni, {}};
}

}  // namespace modelgate::net
