// Inputs the fuzz targets (fuzz/, docs/fuzzing.md) found to break an invariant, each kept as a
// unit test of the behaviour fixed, next to its file in fuzz/corpus/<target>/.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "proxy/model_field.h"
#include "routing/rule.h"

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

// fuzz_rule: libstdc++ compiles a regexp with one level of recursion per term, so a long one
// (100 000 characters) overflowed the stack of `check`, or of a running gateway on reload.
TEST(FuzzRegressions, LongRegexpIsAnErrorNotACrash) {
  const std::string rule = "Host(`a`) && PathRegexp(`" + std::string(100000, 'a') + "`)";
  const auto parsed = routing::parse_rule(rule);
  const auto* error = std::get_if<routing::RuleError>(&parsed);
  ASSERT_NE(error, nullptr);
  EXPECT_EQ(error->offset, rule.find("`a", 10));
  EXPECT_EQ(error->message, "regexp in PathRegexp is 100000 characters long, expected at most 4096");

  const std::string longest = "PathRegexp(`^/" + std::string(4094, 'a') + "`)";
  EXPECT_TRUE(std::holds_alternative<routing::Rule>(routing::parse_rule(longest)));
}

}  // namespace
}  // namespace modelgate
