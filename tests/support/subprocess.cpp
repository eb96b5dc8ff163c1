#include "subprocess.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace frodo::test {
namespace {

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

[[noreturn]] void throw_errno(const std::string& what) { throw std::runtime_error(what + ": " + std::strerror(errno)); }

Fd open_or_throw(const char* path, int flags) {
  int fd = ::open(path, flags | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(std::string("open ") + path);
  return Fd(fd);
}

// argv/envp as the char* arrays execve wants; built before fork because the child may
// only call async-signal-safe functions (no allocation).
struct ExecImage {
  std::string path;
  std::vector<std::string> args, env;
  std::vector<char*> argv, envp;

  explicit ExecImage(const std::vector<std::string>& command, const std::vector<std::string>& extra_env = {})
      : path(find_executable(command.at(0))), args(command), env(child_environment()) {
    env.insert(env.end(), extra_env.begin(), extra_env.end());
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
  }
};

// Forks a child that takes stdin/stdout/stderr from the given descriptors and execs `image`.
pid_t fork_exec(ExecImage& image, int in_fd, int out_fd, int err_fd) {
  pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid > 0) return pid;
  // Child: async-signal-safe calls only, until execve.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
  if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) ::_exit(127);
  ::execve(image.path.c_str(), image.argv.data(), image.envp.data());
  static const char msg[] = "frodo test harness: execve failed\n";
  [[maybe_unused]] ssize_t ignored = ::write(2, msg, sizeof msg - 1);
  ::_exit(127);
}

}  // namespace

std::string find_executable(const std::string& name) {
  auto usable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.find('/') != std::string::npos) {
    if (usable(name)) return name;
  } else if (const char* path = std::getenv("PATH")) {
    std::string_view rest = path;
    while (true) {
      std::size_t colon = rest.find(':');
      std::string dir(rest.substr(0, colon));
      std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
      if (usable(candidate)) return candidate;
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
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

int wait_for_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return status;
}

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                          const std::vector<std::string>& extra_env) {
  ExecImage image(argv, extra_env);
  auto deadline = std::chrono::steady_clock::now() + timeout;
  Fd in = open_or_throw("/dev/null", O_RDONLY);
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe");
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw_errno("pipe");
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);

  pid_t pid = fork_exec(image, in.get(), out_w.get(), err_w.get());
  out_w.reset();
  err_w.reset();

  ProcessResult result;
  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return left.count() > 0 ? static_cast<int>(left.count()) : 0;
  };
  // Drain both pipes together so a child filling one of them never blocks.
  bool out_open = true, err_open = true;
  while ((out_open || err_open) && !result.timed_out) {
    pollfd fds[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
    int ready = ::poll(fds, 2, remaining_ms());
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw_errno("poll");
    if (ready == 0) {
      result.timed_out = true;
      break;
    }
    char buf[4096];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      (i == 0 ? result.out : result.err).append(buf, static_cast<std::size_t>(n));
    }
  }
  // The pipes are closed; wait (bounded) for the exit itself.
  int status = 0;
  while (!result.timed_out) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) throw_errno("waitpid");
    if (remaining_ms() == 0) {
      result.timed_out = true;
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  if (result.timed_out) {
    ::kill(pid, SIGKILL);
    status = wait_for_exit(pid);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

void spawn_watchdog(const std::vector<std::string>& argv, int stdin_fd) {
  ExecImage image(argv);
  Fd null = open_or_throw("/dev/null", O_RDWR);
  pid_t middle = ::fork();
  if (middle < 0) throw_errno("fork");
  if (middle == 0) {
    // Async-signal-safe calls only. The middle process exits at once, so the watchdog is
    // orphaned and adopted by init instead of staying our child.
    ::setsid();
    pid_t pid = ::fork();
    if (pid != 0) ::_exit(pid < 0 ? 1 : 0);
    if (::dup2(stdin_fd, 0) < 0 || ::dup2(null.get(), 1) < 0 || ::dup2(null.get(), 2) < 0) ::_exit(127);
    ::execve(image.path.c_str(), image.argv.data(), image.envp.data());
    ::_exit(127);
  }
  int status = wait_for_exit(middle);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("could not start " + argv.at(0));
}

pid_t spawn_daemon(const std::vector<std::string>& argv, const std::string& log_path) {
  ExecImage image(argv);
  Fd in = open_or_throw("/dev/null", O_RDONLY);
  Fd log = open_or_throw(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND);
  return fork_exec(image, in.get(), log.get(), log.get());
}

}  // namespace frodo::test
