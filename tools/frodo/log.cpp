#include "log.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "terminal_text.hpp"

namespace frodo::cli {
namespace {

int verbosity_ = 0;
LogFormat format_ = LogFormat::text;

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  // strftime for the fields (a year of any size fits or yields 0 bytes), then the milliseconds.
  char text[64];
  std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(ms));
  return text;
}

void write(const char* level, const char* text_prefix, const std::string& message) {
  std::string line;
  if (format_ == LogFormat::json) {
    line = json_text({{"time", now_rfc3339()}, {"level", level}, {"msg", message}}) + "\n";
  } else {
    line = std::string("frodo: ") + text_prefix + terminal_line(message) + "\n";
  }
  // One fwrite per line: stdio locks the stream, so lines of two threads never interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace

void set_log_options(int verbosity, LogFormat format) {
  verbosity_ = verbosity;
  format_ = format;
}

bool log_is_json() { return format_ == LogFormat::json; }

void log_error(const std::string& message) { write("error", "", message); }

void log_warning(const std::string& message) {
  if (verbosity_ >= 0) write("warning", "warning: ", message);
}

void log_info(const std::string& message) {
  if (verbosity_ >= 1) write("info", "", message);
}

}  // namespace frodo::cli
