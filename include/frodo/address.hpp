// Server addresses: `host:port`, where host is a DNS name, an IPv4 address or a bracketed
// IPv6 address, and port is 1-65535 written without leading zeros.
//
// A server is identified by its address string exactly as registered: "a:80" and "A:80"
// are different servers to the ring (the string is what gets hashed, as in frodo.io).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace frodo {

struct Address {
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 0;
};

// Why `text` is not a valid address ("port 0 is out of range 1-65535"...), or nullopt if
// it is valid. The reason does not repeat the text; callers name it.
std::optional<std::string> address_problem(std::string_view text);

// Parses `text`; throws Error(invalid_argument) naming the text and the reason.
Address parse_address(std::string_view text);

// A server's zone (failure domain) is free text of at most this many bytes; empty is no zone.
inline constexpr std::size_t max_zone_bytes = 256;

// Why `zone` is not allowed, or nullopt if it is: at most max_zone_bytes bytes of valid UTF-8
// holding no control character (C0, DEL or C1), so a zone prints as what it says. The reason
// gives the offending byte's offset and does not repeat the zone: callers name it (escaped,
// as it may hold the very bytes refused).
std::optional<std::string> zone_problem(std::string_view zone);

}  // namespace frodo
