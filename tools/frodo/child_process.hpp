// The processes `frodo demo` starts (etcd, alert servers): started in their own process
// group (a terminal's Ctrl-C reaches only the demo, which then stops them in order) and
// SIGKILLed by the kernel if the demo itself dies, so nothing outlives it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace frodo::cli {

class ChildProcess {
 public:
  ChildProcess() = default;
  // Starts argv[0] (a path) with stdout and stderr appended to `log_path`. Throws
  // std::runtime_error naming the program when it cannot be started.
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();  // SIGKILLs and reaps a child still running

  pid_t pid() const { return pid_; }
  bool running();  // reaps it if it has exited
  void signal(int signal);  // no-op once it has exited
  // Waits until it exits; its wait status, or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // SIGTERM, up to `grace` to exit, then SIGKILL; reaped either way.
  void stop(std::chrono::milliseconds grace);

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound, read, closed).
int free_port();
// The path of `name` on PATH; nullopt when it is not installed.
std::optional<std::string> find_program(const std::string& name);
// The path of the running executable.
std::string self_executable();

}  // namespace frodo::cli
