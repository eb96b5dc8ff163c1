// Waiting for Ctrl-C in commands that run until told to stop (`register`, `watch`).
#pragma once

#include <signal.h>

#include <chrono>

namespace frodo::cli {

// Blocks SIGINT, SIGTERM and SIGHUP in the calling thread for its lifetime, so that threads
// started afterwards (the Cluster's, gRPC's) inherit the mask and the signals stay pending
// until wait() takes one: the command then shuts down in order (revoking its lease) instead
// of dying in a signal handler. Make it before anything starts a thread.
class TerminationSignals {
 public:
  TerminationSignals();
  ~TerminationSignals();  // restores the previous mask
  TerminationSignals(const TerminationSignals&) = delete;
  TerminationSignals& operator=(const TerminationSignals&) = delete;

  // Sleeps until one of the signals arrives; returns it.
  int wait();
  // The same, giving up after `timeout`: 0 when no signal came.
  int wait_for(std::chrono::milliseconds timeout);

 private:
  sigset_t set_;
  sigset_t previous_;
};

}  // namespace frodo::cli
