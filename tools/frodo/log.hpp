// What the CLI writes on stderr besides its results: errors, warnings and, with -v, what
// the long-running commands do. Text lines "frodo: [warning: ]MESSAGE" (escaped for the
// terminal), or with --log-format json one JSON object per line:
// {"time": RFC 3339 UTC, "level": "error"|"warning"|"info", "msg": MESSAGE}.
// Thread-safety: set_log_options() before any thread starts; the log_* functions from any
// thread (each line is written whole).
#pragma once

#include <string>

namespace frodo::cli {

enum class LogFormat { text, json };

// -q: errors only; default: errors and warnings; -v: also info.
void set_log_options(int verbosity, LogFormat format);  // verbosity: -1 quiet, 0, 1 verbose
bool log_is_json();

void log_error(const std::string& message);
void log_warning(const std::string& message);
void log_info(const std::string& message);

}  // namespace frodo::cli
