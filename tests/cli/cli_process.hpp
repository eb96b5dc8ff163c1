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

#include "process/wait_until.hpp"
#include "subprocess.hpp"

namespace frodo::cli_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using frodo::test::ProcessResult;

// The only way these tests synchronise with other processes, never a bare sleep.
using frodo::process::wait_until;

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
    process_ = frodo::test::spawn_daemon(command_line(env, args), log_.string());
  }
  // The same with stdin from `stdin_path` (a FIFO the test writes to, say).
  Child(const Env& env, const std::vector<std::string>& args, fs::path log, const std::string& stdin_path)
      : log_(std::move(log)) {
    std::vector<std::string> argv = {"/bin/sh", "-c", "exec \"$@\" < \"$0\"", stdin_path};
    std::vector<std::string> rest = command_line(env, args);
    argv.insert(argv.end(), rest.begin(), rest.end());
    process_ = frodo::test::spawn_daemon(argv, log_.string());
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Sends `signal` and reaps; returns the raw wait status.
  int stop(int signal) {
    process_.signal(signal);
    return process_.wait();
  }
  // Waits (bounded) for the child to exit by itself and reaps it; returns the raw wait status,
  // or -1 when it was still running after `timeout` (it is then SIGKILLed).
  int wait(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    if (std::optional<int> status = process_.wait(timeout)) return *status;
    process_.stop(std::chrono::milliseconds(0));
    return -1;
  }
  std::string log() const { return slurp(log_); }

 private:
  fs::path log_;
  frodo::process::ChildProcess process_;  // SIGKILLed and reaped if the test ends without stopping it
};

}  // namespace frodo::cli_test
