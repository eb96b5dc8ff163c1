// Checks and escapes for text that arrives from outside (etcd values, argv, files) before it
// is stored in a record or printed.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace frodo::detail {

// Why `text` is not valid UTF-8 free of control characters (C0, DEL, C1), or nullopt.
// The reason names the byte offset, not the text.
std::optional<std::string> text_problem(std::string_view text);

// Whether `text` is valid UTF-8 (control characters allowed).
bool valid_utf8(std::string_view text);

// `text` made safe for a log line or a terminal: control characters and bytes that are not
// valid UTF-8 become \xHH, a backslash becomes \\, and past `max_bytes` the rest is cut and
// marked with "...(N bytes)".
std::string printable(std::string_view text, std::size_t max_bytes = 200);

// Whether JSON `text` nests arrays and objects deeper than `max_depth` (a scan of the bytes,
// no recursion, strings honoured). Malformed text is not detected here; the parser does that.
bool json_deeper_than(std::string_view text, int max_depth);

}  // namespace frodo::detail
