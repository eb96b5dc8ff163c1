// Waiting for a condition with a bounded deadline: the tests' only way to synchronise with
// etcd and the library's threads (never a bare sleep).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace frodo::test {

// Polls `condition` every `poll` until it holds or `timeout` passes; returns whether it held.
// (A longer poll is for conditions that checking disturbs.)
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(poll);
  }
  return true;
}

}  // namespace frodo::test
