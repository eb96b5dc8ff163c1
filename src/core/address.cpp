#include "frodo/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "core/utf8.hpp"
#include "frodo/error.hpp"

namespace frodo {
namespace {

bool is_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

std::optional<std::string> dns_name_problem(std::string_view host) {
  if (host.size() > 253) return "host name is longer than 253 characters";
  std::size_t start = 0;
  while (true) {
    std::size_t dot = host.find('.', start);
    std::string_view label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (label.empty()) return "host name has an empty label";
    if (label.size() > 63) return "host name label is longer than 63 characters";
    for (char c : label) {
      if (!is_alnum(c) && c != '-' && c != '_') {
        return "host name contains '" + std::string(1, c) + "'";
      }
    }
    if (label.front() == '-' || label.back() == '-') return "host name label starts or ends with '-'";
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return std::nullopt;
}

std::optional<std::string> host_problem(std::string_view host) {
  if (host.empty()) return "host is empty";
  if (host.front() == '[') {
    if (host.back() != ']' || host.size() < 3) return "an IPv6 host must be in brackets, as [::1]:3030";
    std::string inner(host.substr(1, host.size() - 2));
    // inet_pton reads a C string: a NUL byte would hide whatever follows it.
    if (inner.find('\0') != std::string::npos) return "IPv6 host contains a NUL byte";
    in6_addr v6;
    if (inet_pton(AF_INET6, inner.c_str(), &v6) != 1) return "'" + inner + "' is not an IPv6 address";
    return std::nullopt;
  }
  bool numeric = std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
  if (numeric) {
    std::string s(host);
    in_addr v4;
    if (inet_pton(AF_INET, s.c_str(), &v4) != 1) return "'" + s + "' is not an IPv4 address";
    return std::nullopt;
  }
  return dns_name_problem(host);
}

}  // namespace

std::optional<std::string> address_problem(std::string_view text) {
  if (text.empty()) return "address is empty (expected host:port)";
  std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return "missing ':port' (expected host:port)";
  std::string_view host = text.substr(0, colon);
  std::string_view port = text.substr(colon + 1);
  if (host.find(':') != std::string_view::npos && host.front() != '[') {
    return "an IPv6 host must be in brackets, as [::1]:3030";
  }
  if (auto problem = host_problem(host)) return problem;
  if (port.empty()) return "port is empty";
  if (!std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return "port '" + std::string(port) + "' is not a number";
  }
  if (port.size() > 1 && port.front() == '0') return "port '" + std::string(port) + "' has a leading zero";
  if (port.size() > 5) return "port " + std::string(port) + " is out of range 1-65535";
  unsigned value = 0;
  std::from_chars(port.data(), port.data() + port.size(), value);
  if (value < 1 || value > 65535) return "port " + std::string(port) + " is out of range 1-65535";
  return std::nullopt;
}

Address parse_address(std::string_view text) {
  if (auto problem = address_problem(text)) {
    throw Error(Errc::invalid_argument, "bad address '" + std::string(text) + "': " + *problem);
  }
  std::size_t colon = text.rfind(':');
  Address address;
  std::string_view host = text.substr(0, colon);
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  address.host = std::string(host);
  unsigned port = 0;
  std::from_chars(text.data() + colon + 1, text.data() + text.size(), port);
  address.port = static_cast<std::uint16_t>(port);
  return address;
}

std::optional<std::string> zone_problem(std::string_view zone) {
  if (zone.size() > max_zone_bytes) {
    return "zone is " + std::to_string(zone.size()) + " bytes long (at most " + std::to_string(max_zone_bytes) + ")";
  }
  for (std::size_t i = 0; i < zone.size();) {
    detail::Utf8Char c = detail::decode_utf8(zone.substr(i));
    char text[96];
    if (c.length == 0) {
      std::snprintf(text, sizeof text, "zone is not valid UTF-8 (byte 0x%02x at offset %zu)",
                    static_cast<unsigned char>(zone[i]), i);
      return text;
    }
    if (detail::is_control(c.code_point)) {
      std::snprintf(text, sizeof text, "zone holds control character U+%04X at offset %zu",
                    static_cast<unsigned>(c.code_point), i);
      return text;
    }
    i += c.length;
  }
  return std::nullopt;
}

}  // namespace frodo
