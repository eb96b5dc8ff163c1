#include "subprocess.hpp"

#include <optional>
#include <stdexcept>
#include <string_view>

extern char** environ;

namespace frodo::test {

std::string find_executable(const std::string& name) {
  if (std::optional<std::string> path = process::find_program(name)) return *path;
  throw std::runtime_error("'" + name + "' is not installed (not found on PATH); run scripts/setup");
}

std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view var = *e;
    if (var.starts_with("ETCD_") || var.starts_with("ETCDCTL_")) continue;
    env.emplace_back(var);
  }
  env.emplace_back("ETCDCTL_API=3");
  return env;
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::vector<std::string>& extra_env) {
  std::vector<std::string> env = child_environment();
  env.insert(env.end(), extra_env.begin(), extra_env.end());
  find_executable(argv.at(0));  // the scripts/setup hint
  return process::run(argv, timeout, env);
}

process::ChildProcess spawn_daemon(const std::vector<std::string>& argv, const std::string& log_path) {
  find_executable(argv.at(0));
  return process::ChildProcess(argv, process::SpawnOptions{.output_path = log_path, .environment = child_environment()});
}

}  // namespace frodo::test
