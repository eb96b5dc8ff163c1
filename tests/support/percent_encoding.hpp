// Percent-encoding for the tests and benches that put ids in URLs (GET /v1/owner?id=...):
// every byte but the unreserved ones as %XX, as JavaScript's encodeURIComponent does for
// UTF-8 text. Header-only: the unit tests use it without the support library.
#pragma once

#include <string>
#include <string_view>

namespace frodo::test {

inline std::string percent_encoded(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    const bool unreserved = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                            c == '_' || c == '.' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace frodo::test
