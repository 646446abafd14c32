// Memory given back after large requests (the mechanism; bench/memory_after_burst.sh measures the
// resident memory): the thread's JSON parser, grown by an 8 MiB body, shrinks back when trimmed.
// (Exchange states: test/integration/worker_test.cpp.)
#include <gtest/gtest.h>

#include <string>

#include "proxy/model_field.h"
#include "text/json_parser.h"

namespace mg = modelgate;

namespace {

constexpr std::size_t kLarge = 8 * 1024 * 1024;

std::string large_body() {
  std::string body = R"({"model":"m","messages":[{"role":"user","content":")";
  body.append(kLarge, 'x');
  return body + R"("}]})";
}

}  // namespace

TEST(MemoryAfterBurst, JsonParserShrinksAfterALargeBody) {
  std::string body = large_body(), model;
  ASSERT_EQ(mg::proxy::extract_model(body, model), mg::proxy::ModelField::present);
  EXPECT_GE(mg::text::thread_json_parser().capacity(), kLarge);
  mg::text::trim_thread_json_parser();
  EXPECT_LE(mg::text::thread_json_parser().capacity(), mg::text::kJsonParserKeep);
  // Still a working parser, growing again on demand.
  std::string small = R"({"model":"n"})";
  ASSERT_EQ(mg::proxy::extract_model(small, model), mg::proxy::ModelField::present);
  EXPECT_EQ(model, "n");
  ASSERT_EQ(mg::proxy::extract_model(body, model), mg::proxy::ModelField::present);
  EXPECT_EQ(model, "m");
}
