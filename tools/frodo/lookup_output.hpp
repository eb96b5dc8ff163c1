// The output of `frodo ring lookup` and `frodo lookup` (contract, docs/cli.md): one line per id
// in input order, the owner, or with count N the N distinct owners in preference order
// separated by tabs. Both commands print through here so their answers compare by diff.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "frodo/ring.hpp"

namespace frodo::cli {

// The longest id: ample for any key an application would hash, and a bound on the memory a
// line without a newline can take.
inline constexpr std::size_t max_id_bytes = 65536;

// Answers each id read from `in`, one per line (bytes as they are, without the '\n'; a last
// line without '\n' is still an id), on `out`. count 0: the owner alone. Buffered both ways,
// so a million ids take well under a second. Throws std::runtime_error on a read or write
// error, and for the first id no server owns (an empty ring, or one whose servers hold no
// point): the answers before it are written, nothing is written for it, and the message
// names its line (or argument) number. An id longer than max_id_bytes is a UsageError naming
// its line (or argument) number, again after the answers before it.
void print_owners(const Ring& ring, std::size_t count, std::FILE* in, std::FILE* out);
// The same for ids given as values.
void print_owners(const Ring& ring, std::size_t count, const std::vector<std::string>& ids, std::FILE* out);

}  // namespace frodo::cli
