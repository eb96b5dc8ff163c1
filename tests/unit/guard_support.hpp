// What the guard's unit tests share: options over the in-memory registry, a bounded wait for
// what the guard's own thread publishes, and ids owned by a given server.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "process/wait_until.hpp"
#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"

namespace frodo::test {

inline ClusterOptions guard_test_options() {
  ClusterOptions o;
  o.context = "alerts";
  o.logger = [](const std::string&) {};
  return o;
}

// Waits for a condition with a bounded deadline (the guard's releases are published by its
// own thread).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  return frodo::process::wait_until(condition, limit, std::chrono::milliseconds(1));
}

// An id that `owner` owns in `cluster`'s current view.
inline std::string id_owned_by(const Cluster& cluster, const std::string& owner, int start = 0) {
  for (int i = start; i < start + 100000; ++i) {
    std::string id = "host-" + std::to_string(i);
    if (cluster.server_by_id(id) == owner) return id;
  }
  ADD_FAILURE() << "no id owned by " << owner;
  return "";
}

}  // namespace frodo::test
