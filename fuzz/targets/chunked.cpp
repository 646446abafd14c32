// Fuzz target: the chunked transfer-coding decoder (RFC 9112 §7.1), used on request bodies from
// clients and on response bodies from servers.
//
// Input: one byte choosing the piece size (1..32), then the encoded body. The body is decoded once
// whole and once arriving in pieces of that size, as a session reading a socket sees it: both must
// give the same data, the same end (done / bad / needs more) and leave the same bytes unconsumed.
#include <cstddef>
#include <cstdint>
#include <string>

#include "check.h"
#include "http1/parser.h"

namespace {

using modelgate::http1::ChunkedDecoder;
using modelgate::fuzz::within;

struct Outcome {
  std::string data;
  std::string rest;  // input not consumed when decoding stopped
  bool done = false;
  bool bad = false;
};

Outcome decode(std::string_view body, std::size_t piece) {
  ChunkedDecoder decoder;
  Outcome out;
  std::string pending;  // received, not consumed yet
  std::size_t fed = 0;
  while (!out.done && !out.bad) {
    const std::size_t n = std::min(piece, body.size() - fed);
    pending.append(body.substr(fed, n));
    fed += n;
    for (;;) {
      const ChunkedDecoder::Step step = decoder.next(pending);
      FUZZ_CHECK(step.consumed <= pending.size());
      FUZZ_CHECK(within(step.data, std::string_view(pending).substr(0, step.consumed)));
      out.data.append(step.data);
      pending.erase(0, step.consumed);
      out.done = step.done;
      out.bad = step.bad;
      if (step.done || step.bad || step.consumed == 0) break;
    }
    FUZZ_CHECK(decoder.done() == out.done);
    if (fed == body.size()) break;
  }
  out.rest = pending + std::string(body.substr(fed));
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t piece = 1 + data[0] % 32;
  const std::string_view body = modelgate::fuzz::as_view(data + 1, size - 1);
  const Outcome whole = decode(body, body.size() + 1);
  const Outcome pieces = decode(body, piece);
  FUZZ_CHECK(whole.done == pieces.done);
  FUZZ_CHECK(whole.bad == pieces.bad);
  FUZZ_CHECK(whole.data == pieces.data);
  if (!whole.bad) FUZZ_CHECK(whole.rest == pieces.rest);
  FUZZ_CHECK(whole.data.size() <= body.size());
  return 0;
}
