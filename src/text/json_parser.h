// One simdjson on-demand parser per thread, shared by everything that parses a JSON body on that
// thread (the model field, the usage tap): a parser's buffers grow to the largest document it has
// seen (about 5.7 bytes per byte of JSON: string copies and structural indexes), so one parser a
// thread is already a lot after an 8 MiB request. trim_thread_json_parser() lets the owner of the
// thread (a worker, once a second) give that memory back.
//
// A document is valid until the next iterate() on the same parser: every user parses and finishes
// within one call, never holding a document across a call to another user.
#pragma once

#include <simdjson.h>

#include <cstddef>

namespace modelgate::text {

// Kept without trimming: enough for any ordinary chat request.
inline constexpr std::size_t kJsonParserKeep = 64 * 1024;

inline simdjson::ondemand::parser& thread_json_parser() {
  thread_local simdjson::ondemand::parser parser;
  return parser;
}

// Shrinks this thread's parser back to `keep` bytes of capacity if it grew beyond.
inline void trim_thread_json_parser(std::size_t keep = kJsonParserKeep) {
  auto& parser = thread_json_parser();
  if (parser.capacity() <= keep) return;
  // A failed allocation leaves the parser unusable: a fresh one (it allocates on first use).
  if (parser.allocate(keep, parser.max_depth()) != simdjson::SUCCESS) parser = simdjson::ondemand::parser{};
}

}  // namespace modelgate::text
