// Fuzz target: the request head parser, the first code every client byte meets.
//
// Beyond crashes it checks what the session relies on: views point into the buffer, the head
// ends within it, the parse does not depend on bytes after the head, and one byte less of a
// complete head is "incomplete" (the session then reads more rather than answering 400).
#include <cstddef>
#include <cstdint>

#include "check.h"
#include "http1/parser.h"

namespace {

using namespace modelgate::http1;
using modelgate::fuzz::within;

void check_views(const RequestHead& h, std::string_view buf) {
  FUZZ_CHECK(h.head_size <= buf.size());
  FUZZ_CHECK(h.field_count <= kMaxFields);
  FUZZ_CHECK(h.version == 10 || h.version == 11);
  FUZZ_CHECK(h.body != Body::until_close);
  const std::string_view head = buf.substr(0, h.head_size);
  FUZZ_CHECK(!h.method.empty() && within(h.method, head));
  FUZZ_CHECK(!h.target.empty() && within(h.target, head));
  FUZZ_CHECK(within(h.host, head) && within(h.connection, head));
  for (const Field& f : h.headers()) FUZZ_CHECK(!f.name.empty() && within(f.name, head) && within(f.value, head));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view buf = modelgate::fuzz::as_view(data, size);
  static RequestHead head, again;  // ~3 KiB each
  const Limits limits;
  const Status status = parse_request(buf, head, limits);
  FUZZ_CHECK(head.error != nullptr);
  if (status != Status::complete) return 0;
  check_views(head, buf);

  // The head alone parses the same; without its last byte it is not complete yet.
  FUZZ_CHECK(parse_request(buf.substr(0, head.head_size), again, limits) == Status::complete);
  FUZZ_CHECK(again.head_size == head.head_size && again.field_count == head.field_count &&
             again.body == head.body && again.content_length == head.content_length &&
             again.keep_alive == head.keep_alive);
  FUZZ_CHECK(parse_request(buf.substr(0, head.head_size - 1), again, limits) == Status::incomplete);

  // A tighter field limit turns it into too_large, never into something else.
  if (head.field_count > 0) {
    const Limits fewer{limits.max_head_bytes, head.field_count - 1};
    FUZZ_CHECK(parse_request(buf, again, fewer) == Status::too_large);
  }
  return 0;
}
