// What the CLI tests share: running the `frodo` binary (FRODO_BINARY) as a user does, with
// a controlled environment, to completion or in the background, and waiting on conditions.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "subprocess.hpp"

namespace frodo::cli_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using frodo::test::ProcessResult;

// Polls `condition` until it holds or `timeout` passes (tests/integration/wait.hpp): the
// only way these tests synchronise with other processes, never a bare sleep.
inline bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// Generous: children may run under ASan on a loaded machine.
constexpr auto process_timeout = std::chrono::milliseconds(60s);
constexpr auto await_timeout = std::chrono::milliseconds(30s);

inline std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

inline std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Where a command runs: FRODO_ETCD / FRODO_CONTEXT for the child (empty: unset), with the
// developer's own FRODO_* variables removed so they cannot leak in.
struct Env {
  std::string etcd;
  std::string context;
  std::string password;  // FRODO_ETCD_PASSWORD
};

inline std::vector<std::string> command_line(const Env& env, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"env", "-u", "FRODO_ETCD", "-u", "FRODO_CONTEXT", "-u", "FRODO_ETCD_PASSWORD"};
  if (!env.etcd.empty()) argv.push_back("FRODO_ETCD=" + env.etcd);
  if (!env.context.empty()) argv.push_back("FRODO_CONTEXT=" + env.context);
  if (!env.password.empty()) argv.push_back("FRODO_ETCD_PASSWORD=" + env.password);
  argv.push_back(FRODO_BINARY);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

inline ProcessResult run_frodo(const Env& env, const std::vector<std::string>& args) {
  return frodo::test::run_process(command_line(env, args), process_timeout);
}

// The same with stdin from `input_file`.
inline ProcessResult frodo_with_input(const Env& env, const std::vector<std::string>& args, const std::string& input_file) {
  std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$@\" < \"$0\"", input_file};
  std::vector<std::string> rest = command_line(env, args);
  argv.insert(argv.end(), rest.begin(), rest.end());
  return frodo::test::run_process(argv, process_timeout);
}

// A long-running frodo (register, watch) with its output in a log file; SIGKILLed and
// reaped if the test ends without stopping it.
class Child {
 public:
  Child(const Env& env, const std::vector<std::string>& args, fs::path log) : log_(std::move(log)) {
    pid_ = frodo::test::spawn_daemon(command_line(env, args), log_.string());
  }
  // The same with stdin from `stdin_path` (a FIFO the test writes to, say).
  Child(const Env& env, const std::vector<std::string>& args, fs::path log, const std::string& stdin_path)
      : log_(std::move(log)) {
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$@\" < \"$0\"", stdin_path};
    std::vector<std::string> rest = command_line(env, args);
    argv.insert(argv.end(), rest.begin(), rest.end());
    pid_ = frodo::test::spawn_daemon(argv, log_.string());
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      frodo::test::wait_for_exit(pid_);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Sends `signal` and reaps; returns the raw wait status.
  int stop(int signal) {
    ::kill(pid_, signal);
    int status = frodo::test::wait_for_exit(pid_);
    pid_ = -1;
    return status;
  }
  // Waits (bounded) for the child to exit by itself and reaps it; returns the raw wait status,
  // or -1 when it was still running after `timeout` (it is then SIGKILLed).
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    int status = 0;
    bool exited = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited) return stop(SIGKILL), -1;
    pid_ = -1;
    return status;
  }
  std::string log() const { return slurp(log_); }

 private:
  fs::path log_;
  pid_t pid_ = -1;
};

}  // namespace frodo::cli_test
