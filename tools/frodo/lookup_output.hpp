// The output of `frodo ring lookup` and `frodo lookup` (contract, docs/cli.md): one line per id
// in input order, the owner, or with count N the N distinct owners in preference order
// separated by tabs. Both commands print through here so their answers compare by diff.
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "frodo/cluster.hpp"

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

// How answer_lines() writes an answer.
enum class AnswerFormat {
  text,  // the owner (or N owners, tab-separated); an empty line when no server owns the id
  json,  // one JSON object per line: {"id", "owner" (or "owners"), "revision"}; null / [] for none
};

// `frodo lookup --follow` and `--json`: answers each id read from `in_fd`, one per line, as
// soon as its line has arrived (no buffering of the input beyond what one read returns), from
// the view `current()` returns when the line arrives, and flushes `out` after each read. Runs
// until end of input. An id no server owns does not end it: it gets an empty line (text) or
// null (JSON), since a long-running helper must outlive a moment without servers. An id longer
// than max_id_bytes is a UsageError naming its line, after the answers before it. Ids in JSON
// output are escaped, bytes that are not UTF-8 written as U+FFFD.
void answer_lines(const std::function<std::shared_ptr<const Snapshot>()>& current, std::size_t count,
                  AnswerFormat format, int in_fd, std::FILE* out);
// The same for ids given as values (JSON format; text goes through print_owners).
void answer_ids(const Snapshot& view, std::size_t count, const std::vector<std::string>& ids, std::FILE* out);

}  // namespace frodo::cli
