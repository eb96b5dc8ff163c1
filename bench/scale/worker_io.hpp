// The scale bench's plumbing: a line protocol between the coordinator and the worker
// processes it starts (pipes on the worker's stdin and stdout), bounded parsing of every line
// and argument, and /proc readings of the processes the bench started.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace frodo::scale {

using Clock = std::chrono::steady_clock;

// CLOCK_MONOTONIC in nanoseconds: one clock for every process on this machine, so a time
// stamped by the coordinator and one stamped by a worker can be subtracted.
std::int64_t now_ns();

// Lines are at most this long, in both directions; a longer one is an error.
inline constexpr std::size_t max_line = 4096;

// Splits on single spaces; at most `max_fields` fields (more is an error naming the line).
std::vector<std::string_view> fields(std::string_view line, std::size_t max_fields = 16);

// A decimal integer in [lo, hi]; throws std::runtime_error naming `what` and the text.
std::int64_t parse_int(std::string_view text, const char* what, std::int64_t lo, std::int64_t hi);

// Set by the signal thread (Ctrl-C, SIGTERM): every wait gives up with Interrupted.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};
bool interrupted();
void set_interrupted();

// Reads whole lines from a descriptor with a deadline (poll in short slices, so an interrupt
// is seen within 200 ms). nullopt at end of file.
class LineReader {
 public:
  explicit LineReader(int fd) : fd_(fd) {}
  // Throws std::runtime_error naming `who` at the deadline, and Interrupted.
  std::optional<std::string> read(Clock::time_point deadline, const std::string& who);
  // A line, or nothing yet at the deadline (`line` untouched), or the end of the file.
  enum class Result { line, timeout, eof };
  Result read_until(Clock::time_point deadline, std::string& line);
  // Blocks for the next line (the worker side: its stdin); nullopt at the end of the file.
  std::optional<std::string> read_blocking();

 private:
  std::optional<std::string> take_line();
  int fd_;
  std::string buffer_;
};

// Writes all of `text` (a worker's answer, a command); throws on a closed pipe.
void write_all(int fd, std::string_view text);

// CPU time (user + system) and memory of a process, from /proc/PID/stat and /proc/PID/status.
struct ProcReading {
  double cpu_seconds = 0;
  std::int64_t rss_kb = 0;
  std::int64_t hwm_kb = 0;  // VmHWM: its peak resident set over its life
  bool ok = false;
};
ProcReading read_proc(int pid);

// The last `bytes` of a file (a worker's stderr), for an error message.
std::string file_tail(const std::string& path, std::size_t bytes = 1500);

// The first three fields of /proc/loadavg.
std::string loadavg();

}  // namespace frodo::scale
