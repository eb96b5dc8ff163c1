// Child processes for the test harness: run-to-completion with captured output, and
// long-running daemons whose output goes to a log file. Standard library + POSIX only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace frodo::test {

struct ProcessResult {
  int exit_code = -1;      // the exit status, or -1 when the process died from a signal
  bool timed_out = false;  // killed by run_process because it outlived its timeout
  std::string out;
  std::string err;
};

// The absolute path of `name` found on PATH (or `name` itself when it contains a '/').
// Throws std::runtime_error naming scripts/setup when it is not installed.
std::string find_executable(const std::string& name);

// Runs argv[0] (a path, or a name looked up on PATH) with stdin from /dev/null and waits
// for it, capturing stdout and stderr. A process still running after `timeout` is
// SIGKILLed and reaped, and the result says timed_out. Never throws for a non-zero exit.
// `extra_env` ("NAME=value") is added to child_environment().
ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30),
                          const std::vector<std::string>& extra_env = {});

// Starts argv[0] in the background with stdout and stderr appended to `log_path` and
// returns its PID; the caller must reap it (waitpid). The child is SIGKILLed by the kernel
// if the thread that started it dies, so a crashed test leaves no daemon behind.
pid_t spawn_daemon(const std::vector<std::string>& argv, const std::string& log_path);

// Starts argv[0] with stdin from `stdin_fd` and output discarded, detached from this process
// (its own session, re-parented to init) so that neither this process dying nor a signal to
// its process group or its children (ctest kills a timed-out test's children) reaches it.
// For watchdogs that must outlive a crash; nobody reaps it but init.
void spawn_watchdog(const std::vector<std::string>& argv, int stdin_fd);

// Every child gets the parent's environment without ETCD_* / ETCDCTL_* variables (a
// developer's own settings must not leak into the harness) plus ETCDCTL_API=3.
std::vector<std::string> child_environment();

// waitpid that retries on EINTR; returns the raw status, or -1 when there is no such child.
int wait_for_exit(pid_t pid);

}  // namespace frodo::test
