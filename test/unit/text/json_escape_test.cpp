// JSON string text shared by the error answers, the admin API, the access log and the simulator.
#include "text/json_escape.h"

#include <gtest/gtest.h>

namespace text = modelgate::text;

namespace {
std::string quoted(std::string_view s) {
  std::string out;
  text::append_json_string(out, s);
  return out;
}
}  // namespace

TEST(JsonEscape, EscapesWhatJsonRequires) {
  EXPECT_EQ(quoted("plain"), "\"plain\"");
  EXPECT_EQ(quoted("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(quoted("l1\nl2\r\t"), R"("l1\nl2\r\t")");
  EXPECT_EQ(quoted(std::string_view("\x01\x1f", 2)), R"("\u0001\u001f")");
  EXPECT_EQ(quoted(std::string_view("a\0b", 3)), R"("a\u0000b")");
  EXPECT_EQ(quoted("\x7f"), "\"\x7f\"");  // DEL is allowed in JSON strings
}

TEST(JsonEscape, KeepsValidUtf8AndReplacesTheRest) {
  EXPECT_EQ(quoted("通义千问 ✓ 😀"), "\"通义千问 ✓ 😀\"");
  EXPECT_EQ(quoted("bad\xff byte"), R"("bad\ufffd byte")");
  EXPECT_EQ(quoted("\xe4\xb8"), R"("\ufffd\ufffd")");   // a sequence cut short
  EXPECT_EQ(quoted("\xed\xa0\x80"), R"("\ufffd\ufffd\ufffd")");  // a UTF-16 surrogate
}
