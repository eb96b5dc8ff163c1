#include "worker_io.hpp"

#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace frodo::scale {

namespace {
std::atomic<bool> g_interrupted{false};
}

bool interrupted() { return g_interrupted.load(); }
void set_interrupted() { g_interrupted.store(true); }

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

std::vector<std::string_view> fields(std::string_view line, std::size_t max_fields) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    std::size_t space = line.find(' ');
    std::string_view field = line.substr(0, space);
    if (!field.empty()) {
      if (out.size() == max_fields) {
        throw std::runtime_error("more than " + std::to_string(max_fields) + " fields in line '" +
                                 std::string(line.substr(0, 200)) + "'");
      }
      out.push_back(field);
    }
    if (space == std::string_view::npos) break;
    line.remove_prefix(space + 1);
  }
  return out;
}

std::int64_t parse_int(std::string_view text, const char* what, std::int64_t lo, std::int64_t hi) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    throw std::runtime_error(std::string(what) + ": '" + std::string(text.substr(0, 64)) + "' is not a whole number");
  }
  if (value < lo || value > hi) {
    throw std::runtime_error(std::string(what) + ": " + std::to_string(value) + " is outside [" + std::to_string(lo) +
                             ", " + std::to_string(hi) + "]");
  }
  return value;
}

std::optional<std::string> LineReader::take_line() {
  std::size_t newline = buffer_.find('\n');
  if (newline == std::string::npos) {
    if (buffer_.size() > max_line) throw std::runtime_error("a line longer than " + std::to_string(max_line) + " bytes");
    return std::nullopt;
  }
  std::string line = buffer_.substr(0, newline);
  buffer_.erase(0, newline + 1);
  if (line.size() > max_line) throw std::runtime_error("a line longer than " + std::to_string(max_line) + " bytes");
  return line;
}

LineReader::Result LineReader::read_until(Clock::time_point deadline, std::string& line) {
  for (;;) {
    if (auto taken = take_line()) {
      line = std::move(*taken);
      return Result::line;
    }
    if (interrupted()) throw Interrupted();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return Result::timeout;
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<std::int64_t>(left, 200)));
    if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
    if (n <= 0) continue;
    char chunk[8192];
    ssize_t got = ::read(fd_, chunk, sizeof chunk);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      throw std::runtime_error(std::string("read: ") + std::strerror(errno));
    }
    if (got == 0) return Result::eof;
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
}

std::optional<std::string> LineReader::read(Clock::time_point deadline, const std::string& who) {
  std::string line;
  switch (read_until(deadline, line)) {
    case Result::line: return line;
    case Result::eof: return std::nullopt;
    case Result::timeout: break;
  }
  throw std::runtime_error(who + " did not answer in time");
}

std::optional<std::string> LineReader::read_blocking() {
  for (;;) {
    if (auto line = take_line()) return line;
    char chunk[4096];
    ssize_t got = ::read(fd_, chunk, sizeof chunk);
    if (got < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    if (got == 0) return std::nullopt;
    buffer_.append(chunk, static_cast<std::size_t>(got));
  }
}

void write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("write to a pipe: ") + std::strerror(errno));
    }
    text.remove_prefix(static_cast<std::size_t>(n));
  }
}

ProcReading read_proc(int pid) {
  ProcReading reading;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text) || text.size() > 4096) return reading;
  // The command name (field 2) may hold spaces: the fields we want follow the last ')'.
  std::size_t close = text.rfind(')');
  if (close == std::string::npos) return reading;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  long ticks = ::sysconf(_SC_CLK_TCK);
  if (ticks <= 0) ticks = 100;
  reading.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (int lines = 0; lines < 100 && std::getline(status, text); ++lines) {
    if (text.rfind("VmRSS:", 0) == 0) reading.rss_kb = std::atoll(text.c_str() + 6);
    if (text.rfind("VmHWM:", 0) == 0) reading.hwm_kb = std::atoll(text.c_str() + 6);
  }
  reading.ok = true;
  return reading;
}

std::string file_tail(const std::string& path, std::size_t bytes) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  std::streamoff size = in.tellg();
  std::streamoff from = size > static_cast<std::streamoff>(bytes) ? size - static_cast<std::streamoff>(bytes) : 0;
  in.seekg(from);
  std::string out(static_cast<std::size_t>(size - from), '\0');
  in.read(out.data(), static_cast<std::streamsize>(out.size()));
  return out;
}

std::string loadavg() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

}  // namespace frodo::scale
