// Temporary directories that are removed even when the test process dies without running
// destructors (an ASan abort, a crash, a SIGKILL).
#pragma once

#include <filesystem>
#include <string>

namespace frodo::test {

class TempDir {
 public:
  // mkdtemp("<system temp dir>/<prefix>-XXXXXX"), plus a detached watchdog that removes the
  // directory once this process is gone. Throws std::runtime_error when either fails.
  explicit TempDir(const std::string& prefix);
  ~TempDir();  // removes the directory now; the watchdog then exits on its own
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  int lifeline_ = -1;  // write end of a pipe whose EOF tells the watchdog this process is gone
};

}  // namespace frodo::test
