// Collects the warnings a Cluster's threads send to its logger, for a test thread to read.
// Thread-safe; must outlive every Cluster whose logger() it gave.
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace frodo::test {

struct Warnings {
  std::mutex mutex;
  std::vector<std::string> lines;

  std::function<void(const std::string&)> logger() {
    return [this](const std::string& line) {
      std::lock_guard lock(mutex);
      lines.push_back(line);
    };
  }
  // How many lines contain `needle`.
  std::size_t count(const std::string& needle) {
    std::lock_guard lock(mutex);
    return std::count_if(lines.begin(), lines.end(),
                         [&](const std::string& l) { return l.find(needle) != std::string::npos; });
  }
};

}  // namespace frodo::test
