// The tests' temp dirs: frodo::process::TempDir, also removed when the test process dies
// without running destructors (an ASan abort, a crash, a SIGKILL).
#pragma once

#include <string>

#include "process/temp_dir.hpp"

namespace frodo::test {

class TempDir : public process::TempDir {
 public:
  explicit TempDir(const std::string& prefix) : process::TempDir(prefix, {.remove_after_crash = true}) {}
};

}  // namespace frodo::test
