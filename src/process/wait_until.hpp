// Waiting for a condition that nothing can notify: another process's state, a file, a port.
// Where a condition variable, a pidfd or a signal can be awaited, await it instead.
#pragma once

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

namespace frodo::process {

// Checks `condition` (a callable returning bool) until it holds or `timeout` has passed,
// sleeping `poll` between checks; returns whether it held. It is always checked at least once,
// and once more at the deadline, so a condition that became true meanwhile is not missed. A
// longer `poll` is for conditions that checking disturbs (a child process run per check).
// Runs on the calling thread; thread-safe as far as `condition` is.
template <class Condition>
bool wait_until(Condition&& condition, std::chrono::steady_clock::duration timeout,
                std::chrono::steady_clock::duration poll = std::chrono::milliseconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return false;
    std::this_thread::sleep_for(std::min(poll, deadline - now));
    if (std::chrono::steady_clock::now() >= deadline) return static_cast<bool>(condition());
  }
  return true;
}

}  // namespace frodo::process
