// Inputs the fuzz targets (fuzz/, docs/fuzzing.md) found to break an invariant, each kept as a
// unit test of the behaviour fixed, next to its file in fuzz/corpus/<target>/.
#include <gtest/gtest.h>

#include <string>

#include "proxy/model_field.h"

namespace modelgate {
namespace {

// fuzz_model_json: a model name holding a control character (a JSON "\t" decodes to a tab) was
// written back raw by replace_model, leaving a body no JSON parser accepts.
TEST(FuzzRegressions, ReplaceModelEscapesControlCharacters) {
  std::string body = R"({"model":"m","prompt":"x"})";
  const std::string name = "a\"b\\c\t\n\x01" "d";
  ASSERT_TRUE(proxy::replace_model(body, name));
  EXPECT_EQ(body, R"({"model":"a\"b\\c\u0009\u000a\u0001d","prompt":"x"})");
  std::string read_back;
  ASSERT_EQ(proxy::extract_model(body, read_back), proxy::ModelField::present);
  EXPECT_EQ(read_back, name);
}

}  // namespace
}  // namespace modelgate
