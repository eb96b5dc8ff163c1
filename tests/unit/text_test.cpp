#include "core/text.hpp"

#include <gtest/gtest.h>

namespace frodo::detail {
namespace {

TEST(Text, ProblemsNameTheOffset) {
  EXPECT_FALSE(text_problem("plain, ümlaut, 日本"));
  EXPECT_EQ(text_problem("ab\x1b"), "control character at byte 2");
  EXPECT_EQ(text_problem("a\x7f"), "control character at byte 1");
  EXPECT_EQ(text_problem("\xc2\x9b"), "control character at byte 0");  // C1 CSI
  EXPECT_EQ(text_problem("ok\xff"), "invalid UTF-8 at byte 2");
  EXPECT_EQ(text_problem("\xc0\xaf"), "invalid UTF-8 at byte 0");        // overlong
  EXPECT_EQ(text_problem("\xed\xa0\x80"), "invalid UTF-8 at byte 0");    // surrogate
  EXPECT_EQ(text_problem("\xf4\x90\x80\x80"), "invalid UTF-8 at byte 0");  // above U+10FFFF
  EXPECT_EQ(text_problem("\xe2\x82"), "invalid UTF-8 at byte 0");        // truncated
}

TEST(Text, PrintableEscapesAndBounds) {
  EXPECT_EQ(printable("eu\x1b[2J"), "eu\\x1b[2J");
  EXPECT_EQ(printable("a\\b"), "a\\\\b");
  EXPECT_EQ(printable("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(printable("zürich"), "zürich");
  EXPECT_EQ(printable(std::string(1000, 'x'), 10), std::string(10, 'x') + "...(1000 bytes)");
}

TEST(Text, DepthScanHonoursStrings) {
  EXPECT_FALSE(json_deeper_than(R"({"a":{"b":"c"}})", 2));
  EXPECT_TRUE(json_deeper_than(R"({"a":{"b":["c"]}})", 2));
  EXPECT_FALSE(json_deeper_than(R"({"a":"[[[[{{{{\"]]]"})", 1));
  EXPECT_TRUE(json_deeper_than(std::string(1000000, '['), 4));
}

}  // namespace
}  // namespace frodo::detail
