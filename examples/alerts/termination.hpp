// TerminationSignals: graceful shutdown of the example programs on SIGINT, SIGTERM, SIGHUP.
//
// Make it first in main(), before anything starts a thread: it blocks the signals in the
// calling thread, threads started afterwards inherit the mask, so the signals stay pending
// until wait() or wait_for() takes one. The program then leaves its cluster in order
// (handing its hosts over) instead of dying in a signal handler.
#pragma once

#include <signal.h>

#include <chrono>
#include <optional>

namespace alerts {

class TerminationSignals {
 public:
  TerminationSignals();
  ~TerminationSignals();  // restores the previous mask of the thread that made it
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Sleeps until one of the signals arrives; returns it.
  int wait();
  // The same, giving up after `timeout` (nullopt).
  std::optional<int> wait_for(std::chrono::milliseconds timeout);

 private:
  sigset_t set_;
  sigset_t previous_;
};

}  // namespace alerts
