// Outside text escaped for the terminal, and JSON that survives any bytes.
#include "terminal_text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace frodo::cli {
namespace {

TEST(TerminalText, KeepsPrintableTextOfAnyScript) {
  for (std::string kept : {std::string(""), std::string("eu-west-1a"), std::string("10.0.0.1:3030"),
                           std::string("z\xc3\xbcrich \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x8c\x8d"),
                           std::string("\xc2\xa0 no-break space, \xc2\xa0 kept")}) {
    EXPECT_EQ(terminal_text(kept), kept);
  }
}

TEST(TerminalText, EscapesWhatATerminalWouldActOn) {
  // A window-title change, a colour, a cursor move: printed raw they took over the terminal.
  EXPECT_EQ(terminal_text("\x1b]0;pwned\x07zone"), "\\x1b]0;pwned\\x07zone");
  EXPECT_EQ(terminal_text("\x1b[31mred\x1b[0m"), "\\x1b[31mred\\x1b[0m");
  EXPECT_EQ(terminal_text(std::string("nul\0end", 7)), "nul\\x00end");
  EXPECT_EQ(terminal_text("tab\tline\ncr\r"), "tab\\x09line\\x0acr\\x0d");
  EXPECT_EQ(terminal_text("del\x7f"), "del\\x7f");
  // C1 controls as UTF-8 (CSI is U+009B) and as lone bytes (invalid UTF-8).
  EXPECT_EQ(terminal_text("csi\xc2\x9b" "31m"), "csi\\u009b31m");
  EXPECT_EQ(terminal_text("csi\x9b" "31m"), "csi\\x9b31m");
  EXPECT_EQ(terminal_text("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(terminal_text("cut \xe6\x97"), "cut \\xe6\\x97");
  EXPECT_EQ(terminal_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a surrogate is not UTF-8
  // A backslash is doubled, so "\x1b" in the output always stands for the byte.
  EXPECT_EQ(terminal_text("a\\x1b"), "a\\\\x1b");
}

TEST(TerminalLine, EscapesControlsButLeavesBackslashesOfEscapesAlreadyMade) {
  // A message naming a value escaped by terminal_text() comes through unchanged.
  std::string message = "bad zone '" + terminal_text("a\\b\x1b") + "': zone holds control character";
  EXPECT_EQ(terminal_line(message), "bad zone 'a\\\\b\\x1b': zone holds control character");
  // One that was not escaped still cannot reach the terminal raw.
  EXPECT_EQ(terminal_line("host name contains '\x1b'\n\xc2\x9b\xff"), "host name contains '\\x1b'\\x0a\\u009b\\xff");
}

TEST(TerminalText, ExcerptCutsLongValues) {
  EXPECT_EQ(excerpt("short", 8), "short");
  EXPECT_EQ(excerpt("exactly8", 8), "exactly8");
  EXPECT_EQ(excerpt("much longer than eight", 8), "much lon...");
}

TEST(JsonText, StringsStayExactAndInvalidUtf8CannotThrow) {
  nlohmann::json j = {{"zone", "\x1b[31m\xc2\x9b\xe6\x97\xa5"}};
  EXPECT_EQ(json_text(j), "{\"zone\":\"\\u001b[31m\xc2\x9b\xe6\x97\xa5\"}");
  EXPECT_EQ(nlohmann::json::parse(json_text(j))["zone"], j["zone"]);
  // dump() throws on invalid UTF-8; json_text writes U+FFFD for each bad byte instead.
  nlohmann::json bad = {{"meta", "a\xff" "b"}};
  EXPECT_THROW((void)bad.dump(), nlohmann::json::type_error);
  EXPECT_EQ(json_text(bad), "{\"meta\":\"a\xef\xbf\xbd" "b\"}");
  EXPECT_EQ(json_text(bad, 2), "{\n  \"meta\": \"a\xef\xbf\xbd" "b\"\n}");
}

}  // namespace
}  // namespace frodo::cli
