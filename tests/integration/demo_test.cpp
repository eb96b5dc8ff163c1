// `frodo demo` as a user runs it: real etcd, real alert-server processes, churn (join, graceful
// leave, SIGKILL, SIGSTOP past the TTL) while events flow; the checker's verdict read from
// --json. Sizes are reduced (200 hosts, 12 s) so the suite stays short.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <thread>

#include "etcd_cluster.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"

namespace {

using namespace std::chrono_literals;
using frodo::test::EtcdCluster;

nlohmann::json run_demo(const std::vector<std::string>& extra, int* status) {
  std::vector<std::string> argv = {FRODO_BINARY, "demo", "--json", "--hosts", "200", "--workers", "16"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  frodo::test::ProcessResult r = frodo::test::run_process(argv, 150s);
  *status = r.exit_code;
  EXPECT_FALSE(r.timed_out) << r.err;
  nlohmann::json report = nlohmann::json::parse(r.out, nullptr, false);
  EXPECT_FALSE(report.is_discarded()) << "stdout: " << r.out << "\nstderr: " << r.err;
  if (report.is_discarded()) return nlohmann::json::object();
  std::cerr << r.err;  // the live lines, for whoever reads the test log
  return report;
}

// The PIDs the demo says it started ("... (pid N)").
std::set<pid_t> started_pids(const std::string& text) {
  std::set<pid_t> pids;
  std::regex pid_re(R"(\(pid (\d+)\))");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), pid_re); it != std::sregex_iterator(); ++it) {
    pids.insert(static_cast<pid_t>(std::stol((*it)[1])));
  }
  return pids;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0; }

TEST(Demo, GuardedRunUnderChurnHasNoViolationsAndNoLostEvents) {
  EtcdCluster etcd;
  int status = -1;
  nlohmann::json r = run_demo({"--etcd", etcd.endpoints()[0], "--duration", "15"}, &status);
  EXPECT_EQ(status, 0) << r.dump(2);
  EXPECT_EQ(r.value("verdict", ""), "pass");
  EXPECT_GT(r.value("acknowledged", 0), 0);
  EXPECT_EQ(r.value("violations", -1), 0);
  EXPECT_EQ(r.value("lost", -1), 0);
  EXPECT_EQ(r.value("duplicates", -1), 0);
  EXPECT_EQ(r.value("final_mismatches", -1), 0);
  // Every acknowledged event applied once; an event given up on at the end may be applied too.
  EXPECT_GE(r.value("rows", -1), r.value("acknowledged", -2));
  EXPECT_LE(r.value("rows", -1), r.value("acknowledged", -2) + r.value("in_flight", -2));
  EXPECT_GT(r.value("handoffs", 0), 0);  // the churn did move hosts
}

TEST(Demo, UnguardedRunIsReportedNotJudged) {
  EtcdCluster etcd;
  int status = -1;
  nlohmann::json r = run_demo({"--etcd", etcd.endpoints()[0], "--duration", "15", "--no-guard"}, &status);
  EXPECT_EQ(status, 0) << r.dump(2);
  EXPECT_FALSE(r.value("guard", true));
  EXPECT_GT(r.value("acknowledged", 0), 0);
  EXPECT_EQ(r.value("lost", -1), 0);
  // Reported, not asserted: plain server_by_id under the same churn.
  std::cout << "without the guard: " << r.value("violations", -1) << " ordering violations, "
            << r.value("duplicates", -1) << " duplicates, " << r.value("final_mismatches", -1)
            << " wrong final statuses\n";
  RecordProperty("unguarded_violations", std::to_string(r.value("violations", -1)));
}

TEST(Demo, StartsItsOwnEtcdAndLeavesNoProcessOrTempDirBehind) {
  frodo::test::TempDir tmp("frodo-demo-test");
  std::vector<std::string> argv = {FRODO_BINARY, "demo", "--json", "--hosts", "50", "--duration", "3", "--no-churn"};
  frodo::test::ProcessResult r = frodo::test::run_process(argv, 120s, {"TMPDIR=" + tmp.path().string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json report = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << r.out << r.err;
  EXPECT_EQ(report.value("verdict", ""), "pass");
  std::set<pid_t> pids = started_pids(r.err);
  EXPECT_EQ(pids.size(), 4u) << r.err;  // etcd and three servers
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid)) << pid;
  EXPECT_TRUE(std::filesystem::is_empty(tmp.path())) << "the demo left files in " << tmp.path();
}

TEST(Demo, CtrlCStopsEverythingItStarted) {
  frodo::test::TempDir tmp("frodo-demo-test");
  std::string log = (tmp.path() / "demo.out").string();
  std::filesystem::path demo_tmp = tmp.path() / "tmp";
  std::filesystem::create_directory(demo_tmp);
  ::setenv("TMPDIR", demo_tmp.c_str(), 1);
  pid_t demo = frodo::test::spawn_daemon({FRODO_BINARY, "demo", "--hosts", "50", "--duration", "60"}, log);
  ::unsetenv("TMPDIR");
  auto read_log = [&] {
    std::ifstream in(log);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (read_log().find("ev/s") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_NE(read_log().find("ev/s"), std::string::npos) << read_log();
  ::kill(demo, SIGINT);
  int wait_status = 0;
  deadline = std::chrono::steady_clock::now() + 60s;
  pid_t reaped = 0;
  while ((reaped = ::waitpid(demo, &wait_status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  if (reaped == 0) ::kill(demo, SIGKILL), ::waitpid(demo, &wait_status, 0);
  ASSERT_EQ(reaped, demo) << "the demo did not stop on SIGINT\n" << read_log();
  ASSERT_TRUE(WIFEXITED(wait_status));
  EXPECT_EQ(WEXITSTATUS(wait_status), 1);  // interrupted: no verdict
  std::string out = read_log();
  EXPECT_NE(out.find("interrupted"), std::string::npos) << out;
  std::set<pid_t> pids = started_pids(out);
  EXPECT_EQ(pids.size(), 4u) << out;
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid)) << pid;
  EXPECT_TRUE(std::filesystem::is_empty(demo_tmp));
}

TEST(Demo, BadOptionsAreUsageErrors) {
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--servers", "0"}, {"--hosts", "x"}, {"--duration", "1"}, {"--etcd", "nohost"}}) {
    std::vector<std::string> argv = {FRODO_BINARY, "demo"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    frodo::test::ProcessResult r = frodo::test::run_process(argv, 30s);
    EXPECT_EQ(r.exit_code, 2) << bad[0] << " " << bad[1] << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
}

}  // namespace
