// UTF-8 decoding, header-only: the library validates zones with it and the frodo command
// escapes outside text for the terminal with it, so both agree on what is valid.
#pragma once

#include <cstddef>
#include <string_view>

namespace frodo::detail {

struct Utf8Char {
  char32_t code_point = 0;
  std::size_t length = 0;  // bytes; 0: not a valid sequence
};

// The character that `text` starts with. length 0 when `text` is empty or does not start
// with a well-formed sequence (RFC 3629): a stray continuation byte, an overlong form, a
// surrogate, a code point above U+10FFFF, or a sequence cut short.
inline Utf8Char decode_utf8(std::string_view text) noexcept {
  if (text.empty()) return {};
  auto byte = [&text](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  unsigned char b0 = byte(0);
  if (b0 < 0x80) return {b0, 1};
  std::size_t length;
  char32_t code_point;
  // The range allowed for the second byte rules out overlong forms, surrogates and values
  // above U+10FFFF in one place (RFC 3629, section 4).
  unsigned char low = 0x80, high = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    length = 2;
    code_point = b0 & 0x1f;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    length = 3;
    code_point = b0 & 0x0f;
    if (b0 == 0xe0) low = 0xa0;
    if (b0 == 0xed) high = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    length = 4;
    code_point = b0 & 0x07;
    if (b0 == 0xf0) low = 0x90;
    if (b0 == 0xf4) high = 0x8f;
  } else {
    return {};
  }
  if (text.size() < length) return {};
  for (std::size_t i = 1; i < length; ++i) {
    unsigned char b = byte(i);
    if (i == 1 ? (b < low || b > high) : (b < 0x80 || b > 0xbf)) return {};
    code_point = (code_point << 6) | (b & 0x3f);
  }
  return {code_point, length};
}

// C0 controls, DEL and C1 controls: the characters a terminal may act on instead of showing.
inline bool is_control(char32_t c) noexcept { return c < 0x20 || (c >= 0x7f && c <= 0x9f); }

}  // namespace frodo::detail
