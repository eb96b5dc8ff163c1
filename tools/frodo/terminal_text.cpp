#include "terminal_text.hpp"

#include <cstdio>

#include "core/utf8.hpp"

namespace frodo::cli {

namespace {

std::string escaped(std::string_view text, bool escape_backslash) {
  std::string out;
  out.reserve(text.size());
  char escape[16];
  for (std::size_t i = 0; i < text.size();) {
    detail::Utf8Char c = detail::decode_utf8(text.substr(i));
    if (c.length == 0) {
      std::snprintf(escape, sizeof escape, "\\x%02x", static_cast<unsigned char>(text[i]));
      out += escape;
      ++i;
      continue;
    }
    if (c.code_point == '\\' && escape_backslash) {
      out += "\\\\";
    } else if (c.code_point < 0x80 && detail::is_control(c.code_point)) {
      std::snprintf(escape, sizeof escape, "\\x%02x", static_cast<unsigned>(c.code_point));
      out += escape;
    } else if (detail::is_control(c.code_point)) {
      std::snprintf(escape, sizeof escape, "\\u%04x", static_cast<unsigned>(c.code_point));
      out += escape;
    } else {
      out.append(text.substr(i, c.length));
    }
    i += c.length;
  }
  return out;
}

}  // namespace

std::string terminal_text(std::string_view text) { return escaped(text, /*escape_backslash=*/true); }

std::string terminal_line(std::string_view message) { return escaped(message, /*escape_backslash=*/false); }

std::string excerpt(std::string_view text, std::size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  return std::string(text.substr(0, max_bytes)) + "...";
}

std::string json_text(const nlohmann::json& j, int indent) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace frodo::cli
