// The output of `frodo ring lookup` and `frodo lookup` (contract, DESIGN.md): one line per id
// in input order, the owner, or with count N the N distinct owners in preference order
// separated by tabs. Both commands print through here so their answers compare by diff.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "frodo/ring.hpp"

namespace frodo::cli {

// Answers each id read from `in`, one per line (bytes as they are, without the '\n'; a last
// line without '\n' is still an id), on `out`. count 0: the owner alone. `ring` must not be
// empty. Buffered both ways, so a million ids take well under a second. Throws
// std::runtime_error on a read or write error.
void print_owners(const Ring& ring, std::size_t count, std::FILE* in, std::FILE* out);
// The same for ids given as values.
void print_owners(const Ring& ring, std::size_t count, const std::vector<std::string>& ids, std::FILE* out);

}  // namespace frodo::cli
