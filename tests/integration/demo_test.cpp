// `frodo demo` as a user runs it: real etcd, real alert-server processes, churn (a freeze of
// half the TTL during a join, a graceful leave with slow work in flight, SIGKILL, SIGSTOP past
// the TTL) while events flow; the checker's verdict and the churn's record read from --json.
// Sizes are reduced (200 hosts, 15 s) so the suite stays short.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
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

constexpr double run_seconds = 18;

double number(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : -1;
}

bool has_event(const nlohmann::json& server, const std::string& event) {
  for (const auto& e : server.value("history", nlohmann::json::array())) {
    if (e.value("event", "") == event) return true;
  }
  return false;
}

// The churn of a guarded run did happen, with the effects each step is there for.
void expect_the_churn_happened(const nlohmann::json& r) {
  std::map<std::string, nlohmann::json> steps;
  for (const auto& s : r.value("steps", nlohmann::json::array())) steps[s.value("step", "")] = s;
  ASSERT_EQ(steps.size(), 5u) << r.dump(2);
  for (const auto& [name, s] : steps) {
    EXPECT_TRUE(s.value("happened", false)) << name << ": " << s.dump();
    EXPECT_GT(number(s, "action_at"), 0) << name;
  }
  std::map<std::string, nlohmann::json> servers;
  for (const auto& s : r.value("servers", nlohmann::json::array())) servers[s.value("address", "")] = s;
  ASSERT_EQ(servers.size(), 4u) << r.dump(2);  // three at the start, one joined

  // Freeze during a join: the victim froze with admitted work, kept its lease, the joiner
  // joined while it was frozen and waited for it ('handoff'), and it served again after.
  const nlohmann::json& fj = steps["freeze_join"];
  EXPECT_TRUE(fj.value("lease_held", false)) << fj.dump();
  EXPECT_GE(number(fj, "joined_at"), number(fj, "action_at")) << fj.dump();
  EXPECT_LE(number(fj, "joined_at"), number(fj, "thaw_at")) << fj.dump();
  EXPECT_GT(fj.value("spanning", 0), 0) << "no admission was frozen in flight: " << fj.dump();
  EXPECT_GT(fj.value("handoff_waits", 0), 0) << fj.dump();
  const nlohmann::json& briefly_frozen = servers[fj.value("victim", "")];
  EXPECT_EQ(briefly_frozen.value("fate", ""), "serving") << briefly_frozen.dump();
  EXPECT_TRUE(has_event(briefly_frozen, "frozen") && has_event(briefly_frozen, "thawed")) << briefly_frozen.dump();
  EXPECT_GT(briefly_frozen.value("served_after_thaw", 0), 0) << briefly_frozen.dump();
  const nlohmann::json& joiner = servers[fj.value("joiner", "")];
  EXPECT_TRUE(joiner.value("joiner", false)) << joiner.dump();
  EXPECT_GT(joiner.value("applied", 0), 0) << joiner.dump();

  // Partition past the TTL: cut off from etcd while clients still reach it, it served while
  // its lease held and admitted nothing past its lease deadline; etcd expired its lease
  // during the partition; after the heal it was back in the ring (a new lease) and served.
  const nlohmann::json& pp = steps["partition_past_ttl"];
  EXPECT_GT(pp.value("admitted_cut_off", 0), 0) << pp.dump();
  EXPECT_EQ(pp.value("admitted_past_deadline", -1), 0) << pp.dump();
  EXPECT_GT(number(pp, "victim_out_of_ring_at"), number(pp, "action_at")) << pp.dump();
  EXPECT_LT(number(pp, "victim_out_of_ring_at"), number(pp, "heal_at")) << pp.dump();
  EXPECT_LE(number(pp, "lease_deadline_at"), number(pp, "heal_at")) << pp.dump();
  // Its own Cluster gave the lease up by its own clock, during the partition.
  EXPECT_GT(number(pp, "lease_lost_at"), number(pp, "action_at")) << pp.dump();
  EXPECT_LT(number(pp, "lease_lost_at"), number(pp, "heal_at")) << pp.dump();
  const nlohmann::json& partitioned = servers[pp.value("victim", "")];
  EXPECT_EQ(partitioned.value("fate", ""), "serving") << partitioned.dump();
  EXPECT_TRUE(has_event(partitioned, "cut_off") && has_event(partitioned, "healed")) << partitioned.dump();
  EXPECT_TRUE(has_event(partitioned, "back_in_ring")) << partitioned.dump();
  EXPECT_GT(partitioned.value("served_after_thaw", 0), 0) << partitioned.dump();

  // Slow leave: slow admissions were in flight when it began leaving, their hosts moved,
  // and the gainers waited for the leaver's release.
  const nlohmann::json& sl = steps["slow_leave"];
  EXPECT_GT(sl.value("spanning", 0), 0) << sl.dump();
  EXPECT_GT(sl.value("moved", 0), 0) << sl.dump();
  EXPECT_GT(sl.value("handoff_waits", 0), 0) << sl.dump();
  EXPECT_GE(number(sl, "victim_out_of_ring_at"), number(sl, "action_at")) << sl.dump();
  EXPECT_EQ(servers[sl.value("victim", "")].value("fate", ""), "left");

  // Kill: its lease expired and its record left the ring.
  const nlohmann::json& k = steps["kill"];
  EXPECT_GT(number(k, "victim_out_of_ring_at"), number(k, "action_at")) << k.dump();
  EXPECT_EQ(servers[k.value("victim", "")].value("fate", ""), "killed");

  // Freeze past the TTL: its lease expired while it was frozen, it was thawed with time
  // left, and it served again before the end.
  const nlohmann::json& fp = steps["freeze_past_ttl"];
  EXPECT_GT(number(fp, "victim_out_of_ring_at"), number(fp, "action_at")) << fp.dump();
  EXPECT_LT(number(fp, "victim_out_of_ring_at"), number(fp, "thaw_at")) << fp.dump();
  EXPECT_LE(number(fp, "thaw_at"), run_seconds - 3) << fp.dump();
  const nlohmann::json& long_frozen = servers[fp.value("victim", "")];
  EXPECT_EQ(long_frozen.value("fate", ""), "serving") << long_frozen.dump();
  EXPECT_TRUE(has_event(long_frozen, "back_in_ring")) << long_frozen.dump();
  EXPECT_GT(long_frozen.value("served_after_thaw", 0), 0) << long_frozen.dump();

  // Handoffs counted from the first churn step on (the start-up's releases are not), and
  // hosts did change servers in the store.
  EXPECT_GT(r.value("handoffs", 0), 0);
  EXPECT_GT(r.value("host_moves", 0), 0);
  EXPECT_GT(r.value("handoff_waits", 0), 0);
}

TEST(Demo, GuardedRunUnderChurnHasNoViolationsAndNoLostEvents) {
  EtcdCluster etcd;
  int status = -1;
  nlohmann::json r = run_demo({"--etcd", etcd.endpoints()[0], "--duration", "18"}, &status);
  EXPECT_EQ(status, 0) << r.dump(2);
  EXPECT_EQ(r.value("verdict", ""), "pass");
  EXPECT_TRUE(r.value("fencing", false));
  EXPECT_GT(r.value("acknowledged", 0), 0);
  EXPECT_EQ(r.value("violations", -1), 0);
  EXPECT_EQ(r.value("token_violations", -1), 0);
  EXPECT_EQ(r.value("lost", -1), 0);
  EXPECT_EQ(r.value("duplicates", -1), 0);
  EXPECT_EQ(r.value("final_mismatches", -1), 0);
  // With fencing only a write landing before the new owner's first one may overlap it.
  EXPECT_EQ(r.value("overlaps", -1), r["late"].value("overlaps", -2));
  // Every acknowledged event applied once; an event given up on at the end may be applied too.
  EXPECT_GE(r.value("rows", -1), r.value("acknowledged", -2));
  EXPECT_LE(r.value("rows", -1), r.value("acknowledged", -2) + r.value("in_flight", -2));
  expect_the_churn_happened(r);
}

// The guard alone, against a store that accepts any token: the short pauses (a freeze of half
// the TTL during a join, slow handlers during a leave) must leave no trace. Only the writes of
// the server frozen past its TTL may break order, and the report counts them apart.
TEST(Demo, WithoutFencingTheGuardAloneKeepsOrderThroughPausesShorterThanTheLease) {
  EtcdCluster etcd;
  int status = -1;
  nlohmann::json r = run_demo({"--etcd", etcd.endpoints()[0], "--duration", "18", "--no-fencing"}, &status);
  EXPECT_EQ(status, 0) << r.dump(2);
  EXPECT_EQ(r.value("verdict", ""), "pass") << r.value("judgement", "");
  EXPECT_FALSE(r.value("fencing", true));
  EXPECT_NE(r.value("guarantee", "").find("outside the guard's no-fencing guarantee"), std::string::npos);
  EXPECT_EQ(r.value("fenced", -1), 0);  // nothing is refused without fencing
  const nlohmann::json& late = r["late"];
  EXPECT_EQ(r.value("violations", -1) - late.value("violations", -1), 0) << r.dump(2);
  EXPECT_EQ(r.value("token_violations", -1) - late.value("token_violations", -1), 0) << r.dump(2);
  EXPECT_EQ(r.value("overlaps", -1) - late.value("overlaps", -1), 0) << r.dump(2);
  EXPECT_EQ(r.value("final_mismatches", -1) - late.value("final_mismatches", -1), 0) << r.dump(2);
  EXPECT_EQ(r.value("lost", -1), 0);
  std::cout << "without fencing: " << late.value("rows", -1) << " late writes of the server frozen past its TTL, "
            << late.value("violations", -1) << " order violations and " << late.value("overlaps", -1)
            << " overlaps from them; none from anything else\n";
  RecordProperty("late_writes", std::to_string(late.value("rows", -1)));
  expect_the_churn_happened(r);
}

TEST(Demo, UnguardedRunIsReportedNotJudged) {
  EtcdCluster etcd;
  int status = -1;
  nlohmann::json r = run_demo({"--etcd", etcd.endpoints()[0], "--duration", "18", "--no-guard"}, &status);
  EXPECT_EQ(status, 0) << r.dump(2);
  EXPECT_FALSE(r.value("guard", true));
  EXPECT_GT(r.value("acknowledged", 0), 0);
  EXPECT_EQ(r.value("lost", -1), 0);
  // Reported, not asserted: plain server_by_id under the same churn.
  std::cout << "without the guard: " << r.value("violations", -1) << " ordering violations, "
            << r.value("duplicates", -1) << " duplicates, " << r.value("overlaps", -1) << " overlapping admissions, "
            << r.value("final_mismatches", -1) << " wrong final statuses\n";
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
  frodo::process::ChildProcess demo_process =
      frodo::test::spawn_daemon({FRODO_BINARY, "demo", "--hosts", "50", "--duration", "60"}, log);
  pid_t demo = demo_process.pid();  // reaped below; the object kills it only if the test ends first
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
  EXPECT_EQ(pids.size(), 5u) << out;  // etcd, three servers and the one waiting to join
  for (pid_t pid : pids) EXPECT_FALSE(alive(pid)) << pid;
  EXPECT_TRUE(std::filesystem::is_empty(demo_tmp));
}

TEST(Demo, BadOptionsAreUsageErrors) {
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"--servers", "0"}, {"--hosts", "x"}, {"--duration", "1"}, {"--etcd", "nohost"}, {"--duration", "17"}}) {
    std::vector<std::string> argv = {FRODO_BINARY, "demo"};
    argv.insert(argv.end(), bad.begin(), bad.end());
    frodo::test::ProcessResult r = frodo::test::run_process(argv, 30s);
    EXPECT_EQ(r.exit_code, 2) << bad[0] << " " << bad[1] << ": " << r.err;
    EXPECT_FALSE(r.err.empty());
  }
  // Too short for the churn at this TTL: the message names the value and what would do.
  frodo::test::ProcessResult r = frodo::test::run_process({FRODO_BINARY, "demo", "--duration", "14", "--ttl", "5"}, 30s);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--duration 14 is too short for the churn with a lease TTL of 5 s: it needs at least 29 s"),
            std::string::npos)
      << r.err;
}

TEST(Demo, HelpNamesNoFencing) {
  frodo::test::ProcessResult r = frodo::test::run_process({FRODO_BINARY, "demo", "--help"}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("--no-fencing"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("outside that guarantee"), std::string::npos) << r.out;
}

}  // namespace
