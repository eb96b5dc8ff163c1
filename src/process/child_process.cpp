#include "process/child_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <thread>

extern char** environ;

namespace frodo::process {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void throw_errno(const std::string& what, int error = errno) {
  throw std::runtime_error(what + ": " + std::strerror(error));
}

// A file descriptor closed when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

Fd open_or_throw(const char* path, int flags) {
  int fd = ::open(path, flags | O_CLOEXEC, 0644);
  if (fd < 0) throw_errno(std::string("open ") + path);
  return Fd(fd);
}

// argv/envp as the char* arrays execve wants, built before fork: the child may only make
// async-signal-safe calls (no allocation).
struct ExecImage {
  std::string path;
  std::vector<std::string> args, env;
  std::vector<char*> argv, envp;
  char** envp_data = nullptr;

  ExecImage(const std::vector<std::string>& command, const std::optional<std::vector<std::string>>& environment) {
    if (command.empty()) throw std::runtime_error("no program to start");
    std::optional<std::string> found = find_program(command[0]);
    if (!found) throw std::runtime_error("'" + command[0] + "' is not installed (not found on PATH)");
    path = *found;
    args = command;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (environment) {
      env = *environment;
      for (std::string& e : env) envp.push_back(e.data());
      envp.push_back(nullptr);
      envp_data = envp.data();
    } else {
      envp_data = environ;
    }
  }
};

// Milliseconds left until `deadline`, rounded up (poll's unit), at least 0.
int remaining_ms(Clock::time_point deadline) {
  auto left = deadline - Clock::now();
  if (left <= Clock::duration::zero()) return 0;
  auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<long long>(ms, 1 << 30));
}

int open_pidfd(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd >= 0) ::fcntl(fd, F_SETFD, FD_CLOEXEC);  // pidfds are close-on-exec already; be sure
  return fd;
#else
  (void)pid;
  return -1;
#endif
}

// Forks and execs `image` with the given stdio; returns the child's PID once the exec has
// succeeded, or throws with the exec's error (sent back over a close-on-exec pipe).
pid_t fork_exec(const ExecImage& image, int in_fd, int out_fd, int err_fd, bool new_group) {
  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0) throw_errno("pipe");
  Fd report_r(report[0]), report_w(report[1]);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    // The child: async-signal-safe calls only, until execve.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    if (new_group) ::setpgid(0, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (::dup2(in_fd, 0) < 0 || ::dup2(out_fd, 1) < 0 || ::dup2(err_fd, 2) < 0) {
      int e = errno;
      [[maybe_unused]] ssize_t ignored = ::write(report_w.get(), &e, sizeof e);
      ::_exit(127);
    }
    ::execve(image.path.c_str(), image.argv.data(), image.envp_data);
    int e = errno;
    [[maybe_unused]] ssize_t ignored = ::write(report_w.get(), &e, sizeof e);
    ::_exit(127);
  }
  report_w.reset();
  int exec_error = 0;
  ssize_t n;
  do {
    n = ::read(report_r.get(), &exec_error, sizeof exec_error);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    throw_errno("cannot start " + image.path, exec_error);
  }
  return pid;
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const SpawnOptions& options) {
  ExecImage image(argv, options.environment);
  Fd null = open_or_throw("/dev/null", O_RDWR);
  Fd output;
  if (!options.output_path.empty()) {
    output.reset(::open(options.output_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
    if (output.get() < 0) throw_errno("cannot open " + options.output_path);
  }
  int in = options.stdin_fd >= 0 ? options.stdin_fd : null.get();
  int out = output.get() >= 0 ? output.get() : options.stdout_fd >= 0 ? options.stdout_fd : null.get();
  int err = output.get() >= 0 ? output.get() : options.stderr_fd >= 0 ? options.stderr_fd : null.get();
  pid_ = fork_exec(image, in, out, err, options.new_process_group);
  pidfd_ = open_pidfd(pid_);  // no race: the PID cannot be reused before we reap it
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const std::string& output_path)
    : ChildProcess(argv, SpawnOptions{.output_path = output_path}) {}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_), pidfd_(other.pidfd_), status_(other.status_) {
  other.pid_ = -1;
  other.pidfd_ = -1;
  other.status_.reset();
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    reset();
    pid_ = other.pid_;
    pidfd_ = other.pidfd_;
    status_ = other.status_;
    other.pid_ = -1;
    other.pidfd_ = -1;
    other.status_.reset();
  }
  return *this;
}

ChildProcess::~ChildProcess() { reset(); }

void ChildProcess::reset() noexcept {
  kill_and_reap();
  if (pidfd_ >= 0) ::close(pidfd_);
  pidfd_ = -1;
  pid_ = -1;
  status_.reset();
}

bool ChildProcess::reap(bool block) {
  if (pid_ <= 0 || status_) return status_.has_value();
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = status;
  } else if (r < 0 && errno == ECHILD) {
    status_ = -1;  // reaped by someone else (SIGCHLD ignored): gone all the same
  }
  return status_.has_value();
}

void ChildProcess::kill_and_reap() noexcept {
  if (pid_ <= 0 || status_) return;
  if (reap(false)) return;
  ::kill(pid_, SIGKILL);  // also ends a SIGSTOPped child
  reap(true);
}

bool ChildProcess::running() { return pid_ > 0 && !reap(false); }

bool ChildProcess::signal(int signal) { return running() && ::kill(pid_, signal) == 0; }

std::optional<int> ChildProcess::wait(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return std::nullopt;
  const auto deadline = Clock::now() + timeout;
  while (!reap(false)) {
    int left = remaining_ms(deadline);
    if (left == 0) return std::nullopt;
    if (pidfd_ >= 0) {
      pollfd p{pidfd_, POLLIN, 0};
      // Readable once the child has exited; EINTR: look again.
      if (::poll(&p, 1, left) < 0 && errno != EINTR) throw_errno("poll on a pidfd");
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(left, 5)));  // no pidfd_open: Linux < 5.3
    }
  }
  return status_;
}

int ChildProcess::wait() {
  if (pid_ <= 0) throw std::logic_error("ChildProcess::wait: no child");
  reap(true);
  return *status_;
}

void ChildProcess::stop(std::chrono::milliseconds grace) {
  if (!running()) return;
  if (grace.count() > 0) {
    ::kill(pid_, SIGCONT);  // a stopped process cannot act on SIGTERM
    ::kill(pid_, SIGTERM);
    if (wait(grace)) return;
  }
  kill_and_reap();
}

int exit_code(int wait_status) { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1; }

RunResult run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
              const std::optional<std::vector<std::string>>& environment) {
  const auto deadline = Clock::now() + timeout;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) throw_errno("pipe");
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) throw_errno("pipe");
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);
  ChildProcess child(argv, SpawnOptions{.stdout_fd = out_w.get(), .stderr_fd = err_w.get(), .environment = environment});
  out_w.reset();
  err_w.reset();

  RunResult result;
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[2] = {{out_open ? out_r.get() : -1, POLLIN, 0}, {err_open ? err_r.get() : -1, POLLIN, 0}};
    int ready = ::poll(fds, 2, remaining_ms(deadline));
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
  // The pipes are closed (or the time is up): wait, bounded, for the exit itself.
  std::optional<int> status;
  if (!result.timed_out) status = child.wait(std::chrono::milliseconds(remaining_ms(deadline)));
  if (!status) {
    result.timed_out = true;
    child.stop(std::chrono::milliseconds(0));
    status = child.status();
  }
  result.exit_code = exit_code(status.value_or(-1));
  return result;
}

void spawn_detached(const std::vector<std::string>& argv, int stdin_fd) {
  ExecImage image(argv, std::nullopt);
  Fd null = open_or_throw("/dev/null", O_RDWR);
  const pid_t middle = ::fork();
  if (middle < 0) throw_errno("fork");
  if (middle == 0) {
    // Async-signal-safe calls only. The middle process exits at once, so the detached one is
    // orphaned and adopted by init instead of staying our child.
    ::setsid();
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    pid_t pid = ::fork();
    if (pid != 0) ::_exit(pid < 0 ? 1 : 0);
    if (::dup2(stdin_fd, 0) < 0 || ::dup2(null.get(), 1) < 0 || ::dup2(null.get(), 2) < 0) ::_exit(127);
    ::execve(image.path.c_str(), image.argv.data(), image.envp_data);
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(middle, &status, 0) < 0) {
    if (errno != EINTR) throw_errno("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw std::runtime_error("could not start " + argv.at(0));
}

std::optional<std::string> find_program(const std::string& name) {
  auto usable = [](const std::string& p) {
    struct stat st {};
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(p.c_str(), X_OK) == 0;
  };
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string::npos) {
    if (usable(name)) return name;
    return std::nullopt;
  }
  const char* path = std::getenv("PATH");
  std::string_view rest = path ? path : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    std::size_t colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + name;
    if (usable(candidate)) return candidate;
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

std::string self_executable() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

}  // namespace frodo::process
