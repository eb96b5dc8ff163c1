// The etcd schema of a server: key <prefix>/<context>/servers/<address>, value JSON
// {"address":"10.0.0.3:3030","weight":1,"zone":"","meta":{}}.
#pragma once

#include <optional>
#include <string>

#include "frodo/registry.hpp"

namespace frodo::detail {

std::string servers_prefix(const std::string& prefix, const std::string& context);
std::string encode_server(const ServerInfo& server);
// The server a stored value describes, or nullopt with *problem set: not JSON, a bad
// address or weight, or an address that differs from the key's.
std::optional<ServerInfo> decode_server(const std::string& key_address, const std::string& value, std::string* problem);
// Throws Error(invalid_argument) naming the value for a bad address or weight.
void validate_server(const ServerInfo& server);

}  // namespace frodo::detail
