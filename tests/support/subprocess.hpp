// The harness's policy over frodo::process (src/process): every child a test starts gets
// the test environment (child_environment), and a missing program names scripts/setup.
// The mechanisms (spawning, waiting, capturing, killing) are the library's.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "process/child_process.hpp"

namespace frodo::test {

using ProcessResult = process::RunResult;

// The absolute path of `name` found on PATH (or `name` itself when it contains a '/').
// Throws std::runtime_error naming scripts/setup when it is not installed.
std::string find_executable(const std::string& name);

// Every child gets the parent's environment without ETCD_* / ETCDCTL_* variables (a
// developer's own settings must not leak into the harness) plus ETCDCTL_API=3.
std::vector<std::string> child_environment();

// process::run with child_environment() plus `extra_env` ("NAME=value").
ProcessResult run_process(const std::vector<std::string>& argv,
                          std::chrono::milliseconds timeout = std::chrono::seconds(30),
                          const std::vector<std::string>& extra_env = {});

// A background process with child_environment(), stdin from /dev/null and stdout and stderr
// appended to `log_path`: SIGKILLed and reaped when the returned object goes, and by the
// kernel if the thread that started it dies, so a crashed test leaves no daemon behind.
process::ChildProcess spawn_daemon(const std::vector<std::string>& argv, const std::string& log_path);

}  // namespace frodo::test
