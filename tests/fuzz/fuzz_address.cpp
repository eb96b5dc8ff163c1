// Fuzzes the address parser (src/core/address.cpp): address_problem and parse_address.
//
// Invariants: address_problem(x) is nullopt exactly when parse_address(x) does not throw,
// and a refusal carries the same reason; a parsed address joins back to the input exactly
// (host:port, or [host]:port for IPv6), with a port in 1-65535 and a host free of NUL bytes.
#include <arpa/inet.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "check.hpp"
#include "frodo/address.hpp"
#include "frodo/error.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using frodo::fuzz::check;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<std::string> problem = frodo::address_problem(text);
  frodo::Address address;
  try {
    address = frodo::parse_address(text);
  } catch (const frodo::Error& e) {
    check(problem.has_value(), "parse_address throws only when address_problem finds a problem", e.what());
    // what() is a C string: a NUL in the quoted text cuts the message short.
    std::string message = e.what();
    bool whole = text.find('\0') == std::string_view::npos;
    check(!whole || (message.size() >= problem->size() &&
                     message.compare(message.size() - problem->size(), problem->size(), *problem) == 0),
          "parse_address's error ends with address_problem's reason", message);
    return 0;
  }
  check(!problem.has_value(), "parse_address accepts only what address_problem accepts", problem.value_or(""));
  check(address.port >= 1, "a parsed port is in 1-65535");
  check(!address.host.empty(), "a parsed host is not empty");
  check(address.host.find('\0') == std::string::npos, "a parsed host has no NUL byte", address.host);
  bool ipv6 = address.host.find(':') != std::string::npos;
  std::string joined = ipv6 ? "[" + address.host + "]:" + std::to_string(address.port)
                            : address.host + ":" + std::to_string(address.port);
  check(joined == text, "a parsed address joins back to its text", joined);
  if (ipv6) {
    in6_addr v6;
    check(inet_pton(AF_INET6, address.host.c_str(), &v6) == 1, "a bracketed host is an IPv6 address", address.host);
  }
  return 0;
}
