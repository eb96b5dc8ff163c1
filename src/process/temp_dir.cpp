#include "process/temp_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "process/child_process.hpp"

namespace frodo::process {
namespace {

// Reads one line: "keep" means leave the directory; EOF (every copy of the pipe's write end
// closed: this process exited, however it died) means remove $1. Retries because processes
// killed by the same death may still be writing into the directory for a moment.
constexpr const char* kWatchdogScript =
    "IFS= read -r line; [ \"$line\" = keep ] && exit 0; "
    "for i in 1 2 3 4 5 6 7 8 9 10; do rm -rf -- \"$1\" 2>/dev/null; [ -e \"$1\" ] || exit 0; sleep 0.2; done";

}  // namespace

TempDir::TempDir(const std::string& prefix, TempDirOptions options) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  path_ = pattern;
  if (!options.remove_after_crash) return;
  int lifeline[2];
  // O_CLOEXEC: children we exec must not hold the write end open.
  if (::pipe2(lifeline, O_CLOEXEC) != 0) {
    int saved = errno;
    std::filesystem::remove_all(path_);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(saved));
  }
  try {
    spawn_detached({"sh", "-c", kWatchdogScript, prefix + "-watchdog", path_.string()}, lifeline[0]);
  } catch (...) {
    ::close(lifeline[0]);
    ::close(lifeline[1]);
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
    throw;
  }
  ::close(lifeline[0]);
  lifeline_ = lifeline[1];
}

void TempDir::keep() {
  keep_ = true;
  if (lifeline_ >= 0) {
    static const char line[] = "keep\n";
    [[maybe_unused]] ssize_t ignored = ::write(lifeline_, line, sizeof line - 1);
  }
}

TempDir::~TempDir() {
  if (!keep_) {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  if (lifeline_ >= 0) ::close(lifeline_);  // the watchdog then finds nothing to remove, and exits
}

}  // namespace frodo::process
