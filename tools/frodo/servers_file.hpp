// The servers file of `frodo ring ...`: one member per line, `ADDRESS [WEIGHT]`; blank
// lines and lines starting with # are ignored.
#pragma once

#include <istream>
#include <string>
#include <vector>

#include "frodo/ring.hpp"

namespace frodo::cli {

// Reads every member; throws UsageError("FILE:LINE: ...") naming the bad value for a
// malformed address, a bad weight, a duplicate, extra fields, or an empty list.
std::vector<Member> read_servers(std::istream& in, const std::string& name);
// Opens `path` first; a missing or unreadable file is a UsageError naming it.
std::vector<Member> read_servers_file(const std::string& path);

}  // namespace frodo::cli
