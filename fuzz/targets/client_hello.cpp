// Fuzz target: the TLS ClientHello reader that routes passed-through TLS connections by SNI
// (net/client_hello.h). Its input comes straight from any client of a TCP entry point.
//
// Checked beyond crashes: a found name lies inside the input and within the first record; every
// prefix of an input gives need_more or the same final answer as the whole (a verdict never
// changes as more bytes arrive); need_more is only answered while fewer than kMaxClientHelloBytes
// are held, so a reader bounded by that size always gets an answer.
#include <cstddef>
#include <cstdint>
#include <span>

#include "check.h"
#include "net/client_hello.h"

using modelgate::net::HelloStatus;
using modelgate::net::parse_client_hello;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> all(data, size);
  const auto whole = parse_client_hello(all);
  const auto text = modelgate::fuzz::as_view(data, size);
  if (whole.status == HelloStatus::sni) {
    FUZZ_CHECK(modelgate::fuzz::within(whole.name, text));
    FUZZ_CHECK(!whole.name.empty() && whole.name.size() <= 255);
  }
  if (whole.status == HelloStatus::need_more) FUZZ_CHECK(size < modelgate::net::kMaxClientHelloBytes);
  // Prefixes, as reads deliver them: a final verdict stays the same once reached.
  bool decided = false;
  for (std::size_t n = 0; n <= size; n += 1 + n / 64) {
    const auto r = parse_client_hello(all.first(n));
    if (r.status == HelloStatus::need_more) {
      FUZZ_CHECK(!decided);
      continue;
    }
    decided = true;
    FUZZ_CHECK(r.status == whole.status);
    if (r.status == HelloStatus::sni) FUZZ_CHECK(r.name == whole.name);
  }
  return 0;
}
