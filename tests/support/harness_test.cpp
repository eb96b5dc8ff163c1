// The etcd test harness itself: real etcd processes, killed, frozen and restarted by PID.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "etcd_cluster.hpp"
#include "subprocess.hpp"

namespace {

using frodo::test::EtcdCluster;
using frodo::test::EtcdClusterOptions;
using frodo::test::ProcessResult;
using frodo::test::run_process;
using namespace std::chrono_literals;

// True when no process with this PID exists any more (reaped, not merely a zombie).
bool gone(pid_t pid) { return ::kill(pid, 0) == -1 && errno == ESRCH; }

// Runs etcdctl by hand against one endpoint, with exactly the flags given: for checking
// what the cluster refuses, which EtcdCluster::etcdctl would not let a test get wrong.
// Refusals are retried until the command timeout, so checks expecting one pass a short one.
ProcessResult raw_etcdctl(const std::string& url, std::vector<std::string> args,
                          const std::string& command_timeout = "5s") {
  std::vector<std::string> argv{"etcdctl", "--endpoints=" + url, "--dial-timeout=1s",
                                "--command-timeout=" + command_timeout};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_process(argv, 20s);
}

// The message of the error EtcdCluster::etcdctl throws for this call, or "" when it succeeds.
std::string etcdctl_error(EtcdCluster& etcd, const std::vector<std::string>& args, const std::string& user = "") {
  try {
    etcd.etcdctl(args, user);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

// Dead for good: no such process, or a zombie that only its new parent has still to reap.
bool dead(pid_t pid) {
  if (gone(pid)) return true;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::size_t paren = stat.rfind(')');
  return paren == std::string::npos || (paren + 2 < stat.size() && stat[paren + 2] == 'Z');
}

// Run as a child of DeathWithoutDestructorsLeavesNothingBehind (this same binary, with this
// variable set): start a cluster, report its temp dir and PIDs, then die with no cleanup.
constexpr const char* kDieHoldingACluster = "FRODO_HARNESS_DIE_HOLDING_A_CLUSTER";
[[maybe_unused]] const bool kIsDyingChild = [] {
  if (std::getenv(kDieHoldingACluster) == nullptr) return false;
  auto* etcd = new EtcdCluster(EtcdClusterOptions{.members = 3, .tls = true});  // never destroyed, on purpose
  std::cout << "dir " << etcd->temp_dir() << "\n";
  for (int i = 0; i < etcd->size(); ++i) std::cout << "pid " << etcd->pid(i) << "\n";
  std::cout.flush();
  ::kill(::getpid(), SIGKILL);
  return true;
}();

TEST(Harness, SingleMemberStartsAndRoundTripsAKey) {
  EtcdCluster etcd;
  ASSERT_EQ(etcd.size(), 1);
  EXPECT_TRUE(etcd.running(0));
  EXPECT_EQ(etcd.endpoints(), std::vector<std::string>{etcd.endpoint(0)});
  EXPECT_TRUE(etcd.endpoint(0).starts_with("127.0.0.1:")) << etcd.endpoint(0);
  EXPECT_TRUE(etcd.ca_file().empty());

  etcd.etcdctl({"put", "greeting", "hello"});
  EXPECT_EQ(etcd.etcdctl({"get", "greeting", "--print-value-only"}), "hello\n");
  EXPECT_EQ(etcd.leader(), 0);
}

TEST(Harness, KilledMemberIsReapedAndRestartKeepsItsData) {
  EtcdCluster etcd;
  etcd.etcdctl({"put", "survivor", "still-here"});
  pid_t first = etcd.pid(0);

  etcd.kill(0);
  EXPECT_FALSE(etcd.running(0));
  EXPECT_EQ(etcd.pid(0), -1);
  EXPECT_TRUE(gone(first));
  EXPECT_THROW(etcd.etcdctl({"get", "survivor"}), std::runtime_error);
  ProcessResult r = raw_etcdctl("http://" + etcd.endpoint(0), {"get", "survivor"}, "1s");
  EXPECT_NE(r.exit_code, 0) << "a killed member answered";

  etcd.restart(0);
  EXPECT_TRUE(etcd.running(0));
  EXPECT_NE(etcd.pid(0), first);
  EXPECT_EQ(etcd.etcdctl({"get", "survivor", "--print-value-only"}), "still-here\n");
}

TEST(Harness, ThreeMembersElectANewLeaderAndTheOldOneRejoins) {
  EtcdCluster etcd(EtcdClusterOptions{.members = 3});
  ASSERT_EQ(etcd.size(), 3);
  int old_leader = etcd.leader();

  etcd.kill(old_leader);
  int new_leader = etcd.leader();
  EXPECT_NE(new_leader, old_leader);
  EXPECT_TRUE(etcd.running(new_leader));
  etcd.etcdctl({"put", "written-without-it", "yes"});  // two of three still make a quorum

  etcd.restart(old_leader);
  // A linearizable read through the restarted member alone: it has rejoined and caught up.
  ProcessResult r = raw_etcdctl(etcd.endpoint(old_leader), {"get", "written-without-it", "--print-value-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "yes\n");
  int agreed = etcd.leader();  // now all three agree
  EXPECT_TRUE(etcd.running(agreed));
}

TEST(Harness, StoppedLeaderIsReplacedAndRejoinsOnResume) {
  EtcdCluster etcd(EtcdClusterOptions{.members = 3});
  int frozen = etcd.leader();
  pid_t frozen_pid = etcd.pid(frozen);

  etcd.stop(frozen);
  EXPECT_TRUE(etcd.running(frozen));  // frozen is not dead
  ProcessResult r = raw_etcdctl(etcd.endpoint(frozen), {"get", "k"}, "1s");
  EXPECT_NE(r.exit_code, 0) << "a frozen member answered";
  int replacement = etcd.leader();
  EXPECT_NE(replacement, frozen);
  etcd.etcdctl({"put", "while-frozen", "1"});

  etcd.resume(frozen);
  EXPECT_EQ(etcd.pid(frozen), frozen_pid);
  r = raw_etcdctl(etcd.endpoint(frozen), {"get", "while-frozen", "--print-value-only"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "1\n");
  EXPECT_TRUE(etcd.running(etcd.leader()));
}

TEST(Harness, TlsClientsNeedTheCa) {
  EtcdCluster etcd(EtcdClusterOptions{.tls = true});
  ASSERT_TRUE(std::filesystem::exists(etcd.ca_file()));
  ASSERT_TRUE(std::filesystem::exists(etcd.client_cert_file()));
  ASSERT_TRUE(std::filesystem::exists(etcd.client_key_file()));

  etcd.etcdctl({"put", "secret", "s3cr3t"});
  EXPECT_EQ(etcd.etcdctl({"get", "secret", "--print-value-only"}), "s3cr3t\n");

  std::string url = "https://" + etcd.endpoint(0);
  ProcessResult with_ca = raw_etcdctl(url, {"--cacert=" + etcd.ca_file(), "get", "secret"});
  EXPECT_EQ(with_ca.exit_code, 0) << with_ca.err;
  ProcessResult without_ca = raw_etcdctl(url, {"get", "secret"}, "1s");
  EXPECT_NE(without_ca.exit_code, 0) << "the server certificate was trusted without our CA";
  ProcessResult plaintext = raw_etcdctl("http://" + etcd.endpoint(0), {"get", "secret"}, "1s");
  EXPECT_NE(plaintext.exit_code, 0) << "the client port also spoke plaintext";
}

TEST(Harness, ClientCertAuthNeedsAClientCertificate) {
  EtcdCluster etcd(EtcdClusterOptions{.tls = true, .client_cert_auth = true});
  etcd.etcdctl({"put", "k", "v"});
  EXPECT_EQ(etcd.etcdctl({"get", "k", "--print-value-only"}), "v\n");

  std::string url = "https://" + etcd.endpoint(0);
  ProcessResult ca_only = raw_etcdctl(url, {"--cacert=" + etcd.ca_file(), "get", "k"}, "1s");
  EXPECT_NE(ca_only.exit_code, 0) << "served a client without a certificate";
  ProcessResult with_cert = raw_etcdctl(url, {"--cacert=" + etcd.ca_file(), "--cert=" + etcd.client_cert_file(),
                                              "--key=" + etcd.client_key_file(), "get", "k", "--print-value-only"});
  EXPECT_EQ(with_cert.exit_code, 0) << with_cert.err;
  EXPECT_EQ(with_cert.out, "v\n");
}

TEST(Harness, AuthConfinesUsersToTheirPrefix) {
  EtcdCluster etcd;
  etcd.enable_auth("root-pw");
  etcd.add_user("alice", "alice-pw", "/alice/");
  etcd.add_user("reader", "reader-pw", "/alice/", /*read_only=*/true);

  etcd.etcdctl({"put", "/alice/x", "1"}, "alice:alice-pw");
  EXPECT_EQ(etcd.etcdctl({"get", "/alice/x", "--print-value-only"}, "alice:alice-pw"), "1\n");
  EXPECT_NE(etcdctl_error(etcd, {"put", "/bob/x", "1"}, "alice:alice-pw").find("permission denied"), std::string::npos);
  EXPECT_NE(etcdctl_error(etcd, {"get", "/alice/x"}, "alice:wrong").find("authentication failed"), std::string::npos);
  EXPECT_THROW(etcd.etcdctl({"get", "/alice/x"}), std::runtime_error);  // anonymous

  EXPECT_EQ(etcd.etcdctl({"get", "/alice/x", "--print-value-only"}, "reader:reader-pw"), "1\n");
  EXPECT_NE(etcdctl_error(etcd, {"put", "/alice/y", "2"}, "reader:reader-pw").find("permission denied"),
            std::string::npos);

  // The harness's own calls authenticate as root once auth is on.
  EXPECT_GT(etcd.revision(), 1);
  etcd.kill(0);
  etcd.restart(0);
  EXPECT_EQ(etcd.etcdctl({"get", "/alice/x", "--print-value-only"}, "alice:alice-pw"), "1\n");
}

TEST(Harness, RevisionCountsWritesAndCompactDropsHistory) {
  EtcdCluster etcd;
  std::int64_t before = etcd.revision();
  etcd.etcdctl({"put", "k", "1"});
  etcd.etcdctl({"put", "k", "2"});
  std::int64_t after = etcd.revision();
  EXPECT_EQ(after, before + 2);

  EXPECT_EQ(etcd.etcdctl({"get", "k", "--rev=" + std::to_string(after - 1), "--print-value-only"}), "1\n");
  etcd.compact(after);
  EXPECT_NE(etcdctl_error(etcd, {"get", "k", "--rev=" + std::to_string(after - 1)}).find("compacted"),
            std::string::npos);
  EXPECT_EQ(etcd.etcdctl({"get", "k", "--print-value-only"}), "2\n");
}

TEST(Harness, DestructorReapsEveryMemberAndRemovesTheTempDir) {
  std::vector<pid_t> pids;
  std::string dir;
  {
    EtcdCluster etcd(EtcdClusterOptions{.members = 3, .tls = true});
    for (int i = 0; i < etcd.size(); ++i) pids.push_back(etcd.pid(i));
    dir = etcd.temp_dir();
    ASSERT_TRUE(std::filesystem::is_directory(dir));
    ASSERT_TRUE(std::filesystem::exists(etcd.log_file(0)));
    etcd.stop(1);  // a frozen member must die too
    etcd.kill(2);  // and an already-dead one is no trouble
  }
  for (pid_t pid : pids) EXPECT_TRUE(gone(pid)) << "pid " << pid << " survived";
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

TEST(Harness, DeathWithoutDestructorsLeavesNothingBehind) {
  // Stands for an ASan abort, a crash or ctest's SIGKILL on timeout in some other test.
  ProcessResult child = run_process({"/proc/self/exe"}, 60s, {std::string(kDieHoldingACluster) + "=1"});
  ASSERT_EQ(child.exit_code, -1) << "the child was meant to die by SIGKILL; stderr: " << child.err;
  std::istringstream report(child.out);
  std::string dir, word;
  std::vector<pid_t> pids;
  for (long value = 0; report >> word;) {
    if (word == "dir") report >> dir;
    if (word == "pid" && report >> value) pids.push_back(static_cast<pid_t>(value));
  }
  ASSERT_FALSE(dir.empty()) << child.out << child.err;
  ASSERT_EQ(pids.size(), 3u) << child.out;

  // Members die with the thread that started them (PR_SET_PDEATHSIG) and a watchdog removes
  // the directory; both happen asynchronously, so poll (bounded).
  auto deadline = std::chrono::steady_clock::now() + 10s;
  auto all_dead = [&] { return std::all_of(pids.begin(), pids.end(), dead); };
  while ((!all_dead() || std::filesystem::exists(dir)) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  for (pid_t pid : pids) EXPECT_TRUE(dead(pid)) << "pid " << pid << " outlived its test process";
  EXPECT_FALSE(std::filesystem::exists(dir)) << dir;
}

TEST(Harness, BadOptionsAreRejectedUpFront) {
  EXPECT_THROW(EtcdCluster(EtcdClusterOptions{.members = 0}), std::invalid_argument);
  EXPECT_THROW(EtcdCluster(EtcdClusterOptions{.client_cert_auth = true}), std::invalid_argument);
}

TEST(Harness, StartupFailureReportsTheMemberLog) {
  // etcd refuses an election timeout under five heartbeats and exits at once.
  std::string message;
  try {
    EtcdCluster etcd(EtcdClusterOptions{.heartbeat_ms = 100, .election_ms = 100});
  } catch (const std::runtime_error& e) {
    message = e.what();
  }
  EXPECT_NE(message.find("exited"), std::string::npos) << message;
  EXPECT_NE(message.find("election-timeout"), std::string::npos) << message;
}

}  // namespace
