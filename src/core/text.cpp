#include "text.hpp"

#include "utf8.hpp"

#include <cstdio>

namespace frodo::detail {
namespace {

// The length of the valid UTF-8 sequence at text[i], or 0 (utf8.hpp decides what is valid).
std::size_t utf8_length(std::string_view text, std::size_t i) { return decode_utf8(text.substr(i)).length; }

bool is_control(std::string_view text, std::size_t i, std::size_t length) {
  return length > 0 && detail::is_control(decode_utf8(text.substr(i, length)).code_point);
}

}  // namespace

bool valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = utf8_length(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::optional<std::string> text_problem(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t length = utf8_length(text, i);
    if (length == 0) return "invalid UTF-8 at byte " + std::to_string(i);
    if (is_control(text, i, length)) return "control character at byte " + std::to_string(i);
    i += length;
  }
  return std::nullopt;
}

std::string printable(std::string_view text, std::size_t max_bytes) {
  std::string out;
  std::size_t i = 0;
  for (; i < text.size() && i < max_bytes;) {
    std::size_t length = utf8_length(text, i);
    if (length == 0 || is_control(text, i, length)) {
      std::size_t n = length == 0 ? 1 : length;
      for (std::size_t k = 0; k < n; ++k) {
        char hex[5];
        std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned char>(text[i + k]));
        out += hex;
      }
      i += n;
    } else if (text[i] == '\\') {
      out += "\\\\";
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  if (i < text.size()) out += "...(" + std::to_string(text.size()) + " bytes)";
  return out;
}

bool json_deeper_than(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;  // the escaped character cannot end the string
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

}  // namespace frodo::detail
