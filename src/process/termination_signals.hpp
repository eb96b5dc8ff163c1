// Taking signals synchronously: blocked in the calling thread (and so in every thread it
// starts afterwards), then taken with wait() or wait_for() instead of a handler, so a program
// shuts down in order (leaving its cluster, revoking its lease) rather than in a handler.
#pragma once

#include <signal.h>

#include <chrono>
#include <initializer_list>

namespace frodo::process {

// Blocks `signals` in the calling thread for the object's lifetime. Make it before anything
// starts a thread, so the threads inherit the mask and no thread dies of these signals.
// The destructor first takes (drains) any of them still pending, which would otherwise be
// delivered on unblocking and kill the process before it returns its status, then restores
// the previous mask. It must be destroyed on the thread that made it. wait() and wait_for()
// may be called from any thread that has the signals blocked (one at a time takes each one).
class BlockedSignals {
 public:
  explicit BlockedSignals(std::initializer_list<int> signals);  // throws std::runtime_error
  ~BlockedSignals();
  BlockedSignals(const BlockedSignals&) = delete;
  BlockedSignals& operator=(const BlockedSignals&) = delete;

  // Sleeps until one of the signals arrives; returns it.
  int wait();
  // The same, giving up after `timeout`: 0 when no signal came.
  int wait_for(std::chrono::milliseconds timeout);

 private:
  sigset_t set_;
  sigset_t previous_;
};

// SIGINT, SIGTERM and SIGHUP: what asks a command or a server to stop.
class TerminationSignals : public BlockedSignals {
 public:
  TerminationSignals() : BlockedSignals({SIGINT, SIGTERM, SIGHUP}) {}
};

}  // namespace frodo::process
