// Fuzz target: the response head parser, which reads whatever a model server sends back.
// Input: one byte of flags (bit 0: the request was HEAD), then the bytes from the server.
#include <cstddef>
#include <cstdint>

#include "check.h"
#include "http1/parser.h"

namespace {

using namespace modelgate::http1;
using modelgate::fuzz::within;

void check_views(const ResponseHead& h, std::string_view buf, bool head_request) {
  FUZZ_CHECK(h.head_size <= buf.size());
  FUZZ_CHECK(h.field_count <= kMaxFields);
  FUZZ_CHECK(h.status >= 100 && h.status <= 599);
  FUZZ_CHECK(h.version == 10 || h.version == 11);
  if (head_request) FUZZ_CHECK(h.body == Body::none);
  if (h.body == Body::until_close) FUZZ_CHECK(!h.keep_alive);
  const std::string_view head = buf.substr(0, h.head_size);
  FUZZ_CHECK(within(h.reason, head) && within(h.content_type, head) &&
             within(h.content_encoding, head) && within(h.connection, head));
  for (const Field& f : h.headers()) FUZZ_CHECK(!f.name.empty() && within(f.name, head) && within(f.value, head));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool head_request = data[0] & 1;
  const std::string_view buf = modelgate::fuzz::as_view(data + 1, size - 1);
  static ResponseHead head, again;
  const Limits limits;
  const Status status = parse_response(buf, head, limits, head_request);
  FUZZ_CHECK(head.error != nullptr);
  if (status != Status::complete) return 0;
  check_views(head, buf, head_request);

  FUZZ_CHECK(parse_response(buf.substr(0, head.head_size), again, limits, head_request) == Status::complete);
  FUZZ_CHECK(again.head_size == head.head_size && again.status == head.status &&
             again.body == head.body && again.content_length == head.content_length &&
             again.keep_alive == head.keep_alive);
  FUZZ_CHECK(parse_response(buf.substr(0, head.head_size - 1), again, limits, head_request) ==
             Status::incomplete);
  return 0;
}
