// src/process: child processes, free ports, temp dirs, signals and waiting, without etcd.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "process/child_process.hpp"
#include "process/free_port.hpp"
#include "process/temp_dir.hpp"
#include "process/termination_signals.hpp"
#include "process/wait_until.hpp"

namespace frodo::process {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

TEST(ChildProcess, ReportsTheExitCode) {
  ChildProcess child({"sh", "-c", "exit 7"});
  std::optional<int> status = child.wait(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(exit_code(*status), 7);
  EXPECT_FALSE(child.running());
  EXPECT_FALSE(child.signal(SIGTERM));  // gone: nothing is sent
}

TEST(ChildProcess, WaitReturnsAtTheDeadlineWhileItRuns) {
  ChildProcess child({"sleep", "30"});
  auto before = Clock::now();
  EXPECT_FALSE(child.wait(100ms).has_value());
  auto waited = Clock::now() - before;
  EXPECT_GE(waited, 100ms);
  EXPECT_LT(waited, 5s);
  EXPECT_TRUE(child.running());
}

TEST(ChildProcess, WaitWakesWhenTheChildExitsNotAtTheDeadline) {
  ChildProcess child({"sh", "-c", "sleep 0.2"});
  auto before = Clock::now();
  ASSERT_TRUE(child.wait(30s).has_value());
  EXPECT_LT(Clock::now() - before, 10s);
}

TEST(ChildProcess, DestructionKillsAndReapsItsOwnChild) {
  pid_t pid = -1;
  {
    ChildProcess child({"sleep", "30"});
    pid = child.pid();
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(process_exists(pid));
  }
  EXPECT_FALSE(process_exists(pid)) << "killed and reaped: not even a zombie is left";
}

TEST(ChildProcess, MoveAssignmentKillsTheChildItHeld) {
  ChildProcess a({"sleep", "30"});
  pid_t first = a.pid();
  a = ChildProcess({"sleep", "30"});
  EXPECT_FALSE(process_exists(first));
  EXPECT_TRUE(a.running());
}

TEST(ChildProcess, StopSendsSigtermWithinTheGrace) {
  ChildProcess child({"sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done"});
  // The trap is set once the shell runs its first command; until then SIGTERM kills it.
  child.stop(10s);
  ASSERT_TRUE(child.status().has_value());
  EXPECT_FALSE(child.running());
}

TEST(ChildProcess, AProgramThatCannotStartThrows) {
  EXPECT_THROW(ChildProcess({"/nonexistent/program"}), std::runtime_error);
  EXPECT_THROW(ChildProcess({"frodo-no-such-program-on-path"}), std::runtime_error);
  EXPECT_THROW(ChildProcess(std::vector<std::string>{}), std::runtime_error);
}

TEST(ChildProcess, OutputIsAppendedToTheFile) {
  TempDir dir("frodo-process-test");
  std::string log = (dir / "out.log").string();
  ChildProcess({"sh", "-c", "echo one; echo two >&2"}, log).wait();
  ChildProcess({"sh", "-c", "echo three"}, log).wait();
  std::ifstream in(log);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "one\ntwo\nthree\n");
}

TEST(ChildProcess, TheChildStartsWithNoSignalBlocked) {
  BlockedSignals blocked({SIGTERM});
  ChildProcess child({"sleep", "30"});
  ASSERT_TRUE(child.signal(SIGTERM));
  std::optional<int> status = child.wait(10s);
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*status));
  EXPECT_EQ(WTERMSIG(*status), SIGTERM);
}

TEST(Run, CapturesBothStreamsAndTheExitCode) {
  RunResult r = run({"sh", "-c", "echo out; echo err >&2; exit 4"}, 10s);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_FALSE(r.timed_out);
}

TEST(Run, KillsAChildThatOutlivesItsTimeout) {
  auto before = Clock::now();
  RunResult r = run({"sleep", "30"}, 200ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_LT(Clock::now() - before, 10s);
}

TEST(Run, PassesTheGivenEnvironmentOnly) {
  RunResult r = run({"sh", "-c", "echo \"$A-$HOME\""}, 10s, std::vector<std::string>{"A=1"});
  EXPECT_EQ(r.out, "1-\n");
}

TEST(FindProgram, FindsOnPathAndTakesPathsAsGiven) {
  std::optional<std::string> sh = find_program("sh");
  ASSERT_TRUE(sh.has_value());
  EXPECT_EQ(sh->front(), '/');
  EXPECT_EQ(find_program(*sh), sh);
  EXPECT_FALSE(find_program("frodo-no-such-program-on-path").has_value());
  EXPECT_FALSE(find_program("/nonexistent/program").has_value());
}

TEST(PortReservation, HoldsThePortAgainstPlainBindsButLetsAReuseaddrListenerIn) {
  PortReservation reservation;
  PortReservation other;
  EXPECT_NE(reservation.port(), other.port());
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(reservation.port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  int plain = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(plain, 0);
  EXPECT_NE(::bind(plain, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(errno, EADDRINUSE);
  ::close(plain);

  // What etcd and cpp-httplib do: SO_REUSEADDR, bind, listen.
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  int yes = 1;
  ASSERT_EQ(::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes), 0);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(listener, 4), 0) << std::strerror(errno);
  EXPECT_TRUE(accepts_connections(reservation.port()));
  ::close(listener);
  EXPECT_FALSE(accepts_connections(reservation.port()));

  // What Debian's cpp-httplib does: SO_REUSEPORT only.
  listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  ASSERT_EQ(::setsockopt(listener, SOL_SOCKET, SO_REUSEPORT, &yes, sizeof yes), 0);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0) << std::strerror(errno);
  ASSERT_EQ(::listen(listener, 4), 0) << std::strerror(errno);
  EXPECT_TRUE(accepts_connections(reservation.port()));
  ::close(listener);
}

TEST(PortReservation, NeverHandsOutAPortTwice) {
  int first = 0;
  {
    PortReservation r;
    first = r.port();
  }
  for (int i = 0; i < 50; ++i) EXPECT_NE(PortReservation().port(), first);
}

TEST(TempDir, IsRemovedWithItsContentsUnlessKept) {
  std::filesystem::path removed, kept;
  {
    TempDir dir("frodo-process-test", {.remove_after_crash = true});
    removed = dir.path();
    std::ofstream(dir / "file") << "x";
    EXPECT_TRUE(std::filesystem::is_directory(removed));
  }
  EXPECT_FALSE(std::filesystem::exists(removed));
  {
    TempDir dir("frodo-process-test");
    kept = dir.path();
    dir.keep();
  }
  EXPECT_TRUE(std::filesystem::exists(kept));
  std::filesystem::remove_all(kept);
}

TEST(BlockedSignals, TakesAPendingSignalAndTimesOutWithoutOne) {
  BlockedSignals signals({SIGUSR1});
  EXPECT_EQ(signals.wait_for(20ms), 0);
  ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR1), 0);
  EXPECT_EQ(signals.wait_for(5s), SIGUSR1);
}

TEST(BlockedSignals, DrainsAPendingSignalBeforeUnblocking) {
  {
    BlockedSignals signals({SIGUSR2});
    ASSERT_EQ(pthread_kill(pthread_self(), SIGUSR2), 0);
  }  // SIGUSR2's default action would end the test binary here
  SUCCEED();
}

TEST(WaitUntil, ReturnsFalseAtTheDeadlineAndTrueOnceItHolds) {
  auto before = Clock::now();
  EXPECT_FALSE(wait_until([] { return false; }, 100ms));
  EXPECT_GE(Clock::now() - before, 100ms);
  EXPECT_LT(Clock::now() - before, 5s);
  int calls = 0;
  EXPECT_TRUE(wait_until([&] { return ++calls == 3; }, 10s, 1ms));
  EXPECT_EQ(calls, 3);
}

}  // namespace
}  // namespace frodo::process
