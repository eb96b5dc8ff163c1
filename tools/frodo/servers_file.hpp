// The servers file of `frodo ring ...`: one member per line, `ADDRESS [WEIGHT]`; blank
// lines and lines starting with # are ignored.
#pragma once

#include <cstddef>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "frodo/ring.hpp"

namespace frodo::cli {

// The longest line a servers file may have (an address is at most 259 bytes; the rest is room
// for comments): longer is an error, and nothing longer is ever held in memory.
inline constexpr std::size_t max_line_bytes = 65536;

// Reads a weight as written in a servers file or after --weight: a number (as from_chars
// reads it) in [Ring::min_weight, Ring::max_weight]. Stores it in `weight` and returns
// nullopt, or returns why not ("not a number", the range), leaving `weight` alone; the
// reason does not repeat the text, callers name it.
std::optional<std::string> parse_weight(std::string_view text, double& weight);

// Reads every member; throws UsageError("FILE:LINE: ...") naming the bad value for a
// line longer than max_line_bytes, a malformed address, a weight that is not a number or is outside [Ring::min_weight,
// Ring::max_weight], a duplicate, extra fields, or an empty list.
std::vector<Member> read_servers(std::istream& in, const std::string& name);
// Opens `path` first; a missing or unreadable file is a UsageError naming it.
std::vector<Member> read_servers_file(const std::string& path);

}  // namespace frodo::cli
