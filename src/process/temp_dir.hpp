// Temporary directories, removed with everything in them when their owner goes.
#pragma once

#include <filesystem>
#include <string>

namespace frodo::process {

struct TempDirOptions {
  // Also remove it when this process dies without running destructors (a crash, an ASan
  // abort, SIGKILL): a detached watchdog (sh) waits for EOF on a pipe only this process
  // holds, then removes the directory. For tests; the demo does without.
  bool remove_after_crash = false;
};

// mkdtemp("<system temp dir>/<prefix>-XXXXXX"). Ownership: the object owns the directory;
// its destructor removes it and everything in it (errors ignored) unless keep() was called.
// Move-less and not thread-safe (path() is safe to read from any thread).
class TempDir {
 public:
  // Throws std::runtime_error when the directory (or its watchdog) cannot be made; nothing is
  // left behind then.
  explicit TempDir(const std::string& prefix, TempDirOptions options = {});
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Leave the directory in place: neither the destructor nor the watchdog removes it.
  void keep();

 private:
  std::filesystem::path path_;
  bool keep_ = false;
  int lifeline_ = -1;  // write end of the watchdog's pipe; -1 without one
};

}  // namespace frodo::process
