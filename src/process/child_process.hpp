// Child processes: started with fork + exec, watched through a pidfd, stopped and reaped by
// the object that started them.
//
// Why not posix_spawn: every child here must die with its parent (PR_SET_PDEATHSIG, so a
// crashed demo or test leaves no etcd or server behind, and the check that the parent is
// still alive must run in the child before exec); posix_spawn has no hook for either. The
// child runs only async-signal-safe calls between fork and exec, with everything it needs
// (paths, argv, envp) built before the fork.
// Why not Boost.Process: it is not a dependency of this project (Debian 12 ships Boost 1.74,
// whose Process v1 waits with a timeout by polling or a helper process, has no pidfd and no
// parent-death signal without custom initializers), and the little we need is below.
// Waiting: pidfd_open (Linux 5.3) + poll, so a wait with a timeout sleeps in the kernel until
// the child exits instead of polling waitpid. On a kernel without pidfd_open the wait falls
// back to checking every 5 ms.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace frodo::process {

struct SpawnOptions {
  // stdout and stderr appended to this file (created 0644). Empty: the descriptors below.
  std::string output_path;
  int stdin_fd = -1;   // -1: /dev/null
  int stdout_fd = -1;  // with no output_path; -1: /dev/null
  int stderr_fd = -1;  // with no output_path; -1: /dev/null
  // The child's whole environment ("NAME=value"); nullopt: this process's.
  std::optional<std::vector<std::string>> environment;
  // Its own process group, so a terminal's Ctrl-C reaches only this process, which then
  // stops its children in order.
  bool new_process_group = false;
};

// One child process. It receives SIGKILL from the kernel when the thread that started it
// dies (PR_SET_PDEATHSIG: a crash, a SIGKILL of this process), and starts with an empty
// signal mask (a parent that blocks SIGINT/SIGTERM for sigwait does not pass that on).
//
// Ownership: the object owns its PID: it alone reaps it, and its destructor SIGKILLs and
// reaps a child still running (its own PID only, never a group), so no zombie and no
// orphan is left. Move-only. Not thread-safe: use one object from one thread at a time.
class ChildProcess {
 public:
  ChildProcess() = default;  // empty: pid() is -1, running() false
  // Starts argv[0] (a path, or a name looked up on PATH). Throws std::runtime_error naming
  // the program when it is not found or cannot be executed (the exec error is reported
  // back from the child, so a bad path fails here, not as a silent exit 127).
  explicit ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options = {});
  // The same with stdout and stderr appended to `output_path`.
  ChildProcess(const std::vector<std::string>& argv, const std::string& output_path);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;  // kills and reaps the child it held
  ~ChildProcess();  // SIGKILLs and reaps a child still running
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // The child's PID, also after it exited (until the object is moved from or assigned).
  pid_t pid() const { return pid_; }
  // Whether it has not exited; reaps it (and records its status) if it has.
  bool running();
  // Sends `signal` unless it has exited; returns whether it was sent.
  bool signal(int signal);
  // Waits up to `timeout` for it to exit; its raw wait status (see exit_code), or nullopt
  // when it is still running at the deadline (or the object is empty).
  std::optional<int> wait(std::chrono::milliseconds timeout);
  // Waits for it to exit, however long; its raw wait status.
  int wait();
  // SIGCONT + SIGTERM, up to `grace` for it to exit, then SIGKILL; reaped either way. A zero
  // grace sends SIGKILL at once. No-op once it has exited.
  void stop(std::chrono::milliseconds grace);
  // The raw wait status once reaped.
  std::optional<int> status() const { return status_; }

 private:
  bool reap(bool block);
  void kill_and_reap() noexcept;
  void reset() noexcept;

  pid_t pid_ = -1;
  int pidfd_ = -1;  // -1 on kernels without pidfd_open
  std::optional<int> status_;
};

// The exit code in a raw wait status, or -1 when the process died from a signal.
int exit_code(int wait_status);

struct RunResult {
  int exit_code = -1;      // the exit status, or -1 when it died from a signal
  bool timed_out = false;  // killed because it outlived its timeout
  std::string out;
  std::string err;
};

// Runs argv[0] (a path or a name on PATH) to completion with stdin from /dev/null,
// capturing stdout and stderr (both drained together, so a child filling one never blocks).
// A child still running after `timeout` is SIGKILLed and reaped, and the result says
// timed_out. Never throws for a non-zero exit; throws std::runtime_error when it cannot
// start. `environment` as in SpawnOptions. Thread-safe (each call owns its child), but the
// child dies with the calling thread.
RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::optional<std::vector<std::string>>& environment = std::nullopt);

// Starts argv[0] with stdin from `stdin_fd` and output discarded, detached from this process
// (its own session, re-parented to init): neither this process dying nor a signal to its
// group reaches it. For watchdogs that must outlive a crash (TempDir's); nobody but init
// reaps it. Throws std::runtime_error when it cannot be started.
void spawn_detached(const std::vector<std::string>& argv, int stdin_fd);

// The path of `name`: `name` itself when it contains a '/', else the first executable
// regular file of that name on PATH (an empty entry is the current directory); nullopt when
// there is none.
std::optional<std::string> find_program(const std::string& name);

// The absolute path of the running executable (/proc/self/exe).
std::string self_executable();

}  // namespace frodo::process
