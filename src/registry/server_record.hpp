// The etcd schema of a server: key <prefix>/<context>/servers/<address>, value JSON
// {"address":"10.0.0.3:3030","weight":1,"zone":"","meta":{}}.
//
// Values come from anyone with write access to etcd: they are checked for size before they
// are parsed, for nesting depth before the parser sees them, and for every field's type and
// range after; whatever fails is refused with a reason, never a crash.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "frodo/server.hpp"

namespace frodo::detail {

// The defaults of ClusterOptions::max_value_bytes and of the depth every record is held to
// (a record nests at most {"meta":{"key":"value"}}: depth 2).
constexpr std::size_t default_max_value_bytes = 64 * 1024;
constexpr int max_record_depth = 4;

std::string servers_prefix(const std::string& prefix, const std::string& context);
std::string encode_server(const ServerInfo& server);
// The server a stored value describes, or nullopt with *problem set: larger than
// `max_value_bytes`, nested too deep, not JSON, a field of the wrong type (meta values must be
// strings), a bad address, weight or zone, or an address that differs from the key's.
std::optional<ServerInfo> decode_server(std::string_view key_address, std::string_view value, std::string* problem,
                                        std::size_t max_value_bytes = default_max_value_bytes);
// Throws Error(invalid_argument) naming the value for a bad address, weight, zone or meta
// text, or a record whose encoding would exceed `max_value_bytes` (what this process would
// refuse to read, it refuses to write).
void validate_server(const ServerInfo& server, std::size_t max_value_bytes = default_max_value_bytes);

}  // namespace frodo::detail
