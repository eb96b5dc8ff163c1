#include "temp_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "subprocess.hpp"

namespace frodo::test {
namespace {

// Waits for EOF on stdin (every copy of the pipe's write end closed: this process exited,
// however it died), then removes $1. Retries because members killed by the same death may
// still be writing into the directory for a moment.
constexpr const char* kWatchdogScript =
    "read _; for i in 1 2 3 4 5 6 7 8 9 10; do rm -rf -- \"$1\" 2>/dev/null; [ -e \"$1\" ] || exit 0; sleep 0.2; done";

}  // namespace

TempDir::TempDir(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
  }
  path_ = pattern;
  int lifeline[2];
  // O_CLOEXEC: children we exec (etcd, etcdctl) must not hold the write end open.
  if (::pipe2(lifeline, O_CLOEXEC) != 0) {
    int saved = errno;
    std::filesystem::remove_all(path_);
    throw std::runtime_error(std::string("pipe: ") + std::strerror(saved));
  }
  try {
    spawn_watchdog({"sh", "-c", kWatchdogScript, prefix + "-watchdog", path_.string()}, lifeline[0]);
  } catch (...) {
    ::close(lifeline[0]);
    ::close(lifeline[1]);
    std::filesystem::remove_all(path_);
    throw;
  }
  ::close(lifeline[0]);
  lifeline_ = lifeline[1];
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
  ::close(lifeline_);
}

}  // namespace frodo::test
