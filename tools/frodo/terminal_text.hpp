// Outside text made safe to print. A zone or meta value from etcd, a line of a servers file or
// an argument may hold bytes a terminal acts on instead of showing: ESC starts sequences that
// move the cursor, rewrite what was printed, retitle the window or (on some terminals) answer
// back as if typed. Human output passes such text through terminal_text(); JSON output
// through json_text().
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace frodo::cli {

// `text` with everything a terminal could act on made visible: C0 controls and DEL as \xHH
// (tab and newline included), C1 controls (U+0080-U+009F) as \uHHHH, and each byte that is not
// part of valid UTF-8 as \xHH; a backslash becomes \\ so that an escape in the output always
// stands for a byte of the input. Printable UTF-8, in any script, is kept as it is.
std::string terminal_text(std::string_view text);

// A whole message (an error, a warning) made safe the same way, except that backslashes stay
// as they are: the values a message names were escaped when it was written (terminal_text()
// here, the library's own escaping in its messages), and escaping them again would double
// every backslash. This is the safety net for a value that was not.
std::string terminal_line(std::string_view message);

// `text` itself when it has at most `max_bytes` bytes, else its first `max_bytes` bytes and
// "...": for naming a value that may be huge in a one-line message.
std::string excerpt(std::string_view text, std::size_t max_bytes = 64);

// `j` as JSON text (indent as nlohmann's dump). Strings stay exact, as JSON escapes control
// characters itself; a byte that is not valid UTF-8, which JSON text cannot carry, becomes
// U+FFFD instead of making the dump throw.
std::string json_text(const nlohmann::json& j, int indent = -1);

}  // namespace frodo::cli
