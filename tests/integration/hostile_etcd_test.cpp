// Hostile etcd: whatever anyone with write access puts under a context's prefix, every frodo
// process of that context keeps running, keeps its memory, keeps answering with real servers,
// and a new process still starts. Real etcd, real frodo processes; every address written is
// on loopback.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "etcd/connection.hpp"
#include "etcd/kv.hpp"
#include "etcd_cluster.hpp"
#include "cluster_addresses.hpp"
#include "frodo/cluster.hpp"
#include "frodo/error.hpp"
#include "subprocess.hpp"
#include "temp_dir.hpp"
#include "warnings.hpp"
#include "process/wait_until.hpp"

namespace frodo {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using process::wait_until;

constexpr const char* context = "hostile";
constexpr const char* prefix = "/frodo/hostile/servers/";

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

using test::Warnings;

ClusterOptions options_for(const test::EtcdCluster& etcd, Warnings* warnings = nullptr) {
  ClusterOptions o;
  o.context = context;
  o.etcd.endpoints = etcd.endpoints();
  o.etcd.call_timeout = 5000ms;
  o.lease_ttl = 5s;
  o.logger = warnings ? warnings->logger() : [](const std::string&) {};
  return o;
}

using test::addresses;

std::string record(const std::string& address, const std::string& rest = "") {
  return R"({"address":")" + address + R"(")" + rest + "}";
}

// The battery: key (under the context's servers/) -> value. Each is refused by the decoder.
std::vector<std::pair<std::string, std::string>> hostile_values() {
  std::vector<std::pair<std::string, std::string>> v;
  auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  v.emplace_back("127.0.0.2:1", record("127.0.0.2:1", R"(,"meta":{"x":)" + nested(100000) + "}"));  // 200 KB
  v.emplace_back("127.0.0.2:2", record("127.0.0.2:2", R"(,"meta":{"x":)" + nested(20000) + "}"));   // under the cap
  v.emplace_back("127.0.0.2:3", record("127.0.0.2:3", R"(,"weight":1e308)"));
  v.emplace_back("127.0.0.2:4", record("127.0.0.2:4", R"(,"weight":1e308)"));
  v.emplace_back("127.0.0.2:5", record("127.0.0.2:5", R"(,"weight":1.8e19)"));
  v.emplace_back("127.0.0.2:6", record("127.0.0.2:6", R"(,"weight":1e-320)"));
  v.emplace_back("127.0.0.2:7", record("127.0.0.2:7", R"(,"zone":"\u001b]0;owned\u0007\u001b[2J")"));
  v.emplace_back("127.0.0.2:8", record("127.0.0.2:8", R"(,"meta":{"n":1})"));
  v.emplace_back("127.0.0.2:9", "{\"address\":\"127.0.0.2:9\",\"zone\":\"\xff\xfe\"}");
  v.emplace_back("127.0.0.2:10", "");
  v.emplace_back("127.0.0.2:11", "null");
  v.emplace_back("127.0.0.2:12", "[1,2,3]");
  v.emplace_back("127.0.0.2:13", record("127.0.0.2:13", R"(,"meta":{"big":")" + std::string(100000, 'b') + "\"}"));
  v.emplace_back("\x1b[2J127.0.0.2:14", record("\x1b[2J127.0.0.2:14"));
  v.emplace_back("127.0.0.2:15/nested", record("127.0.0.2:15/nested"));
  v.emplace_back("127.0.0.2:16", record("127.0.0.3:16"));  // claims another address
  return v;
}

// Foreign records that are valid by the schema, shaped like a guarded server's: they are
// servers (on loopback, nobody listening), so lookups may name them.
std::vector<std::pair<std::string, std::string>> foreign_records() {
  return {{"127.0.0.4:1", record("127.0.0.4:1", R"(,"meta":{"frodo.released":"1","frodo.epoch":"999999999"})")}};
}

// The tests' own writer: a generous call deadline, as sanitizer builds on a loaded 2-core
// machine can take seconds to move a large value.
std::shared_ptr<etcd::Connection> writer(const std::vector<std::string>& endpoints) {
  return std::make_shared<etcd::Connection>(EtcdOptions{.endpoints = endpoints, .call_timeout = 60s});
}

void put_all(etcd::Kv& kv, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [key, value] : values) kv.put(prefix + key, value);
}

std::size_t rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

TEST(HostileEtcd, EveryValueIsSkippedOnceAndNothingStops) {
  test::EtcdCluster etcd;
  auto connection = writer(etcd.endpoints());
  etcd::Kv kv(connection);
  Warnings warnings;
  Cluster running(options_for(etcd, &warnings));
  running.add_server("127.0.0.1:3030");
  put_all(kv, hostile_values());
  put_all(kv, foreign_records());
  std::int64_t last = kv.put(prefix + std::string("127.0.0.1:3031"), record("127.0.0.1:3031"));
  ASSERT_TRUE(running.wait_revision(last, 20s));
  const std::set<std::string> real = {"127.0.0.1:3030", "127.0.0.1:3031", "127.0.0.4:1"};
  EXPECT_EQ(addresses(running), real);
  for (const auto& [key, value] : hostile_values()) {
    // One warning per value, naming its key (escaped when it holds control characters).
    std::string named = key[0] == '\x1b' ? "\\x1b[2J127.0.0.2:14" : key;
    EXPECT_EQ(warnings.count(std::string(prefix) + named + ":"), 1u) << named;
  }
  // A process that starts now lists the same servers.
  Warnings fresh_warnings;
  Cluster fresh(options_for(etcd, &fresh_warnings));
  EXPECT_EQ(addresses(fresh), real);
  EXPECT_EQ(fresh_warnings.count("skipping"), hostile_values().size());
  EXPECT_EQ(fresh.stats().registry.skipped_values, hostile_values().size());
  for (int i = 0; i < 2000; ++i) {
    std::optional<std::string> owner = fresh.server_by_id("host-" + std::to_string(i));
    ASSERT_TRUE(owner && real.contains(*owner));
  }
  // Rewriting a bad value warns again (it is a new value); deleting it is quiet.
  kv.put(prefix + std::string("127.0.0.2:3"), record("127.0.0.2:3", R"(,"weight":-5)"));
  last = kv.remove(prefix + std::string("127.0.0.2:4")) ? etcd.revision() : 0;
  ASSERT_TRUE(running.wait_revision(last, 20s));
  EXPECT_EQ(warnings.count(std::string(prefix) + "127.0.0.2:3:"), 2u);
  EXPECT_EQ(addresses(running), real);
  EXPECT_EQ(running.stats().registry.skipped_values, warnings.count("skipping"));
}

// Values too large for one gRPC message must not stop a listing or a watch: pages shrink,
// and a value too large to receive alone is named and skipped. (Here the client accepts
// 1 MiB messages; by default 64 MiB, and etcd refuses requests over 1.5 MiB unless told.)
TEST(HostileEtcd, LargeValuesDoNotStopAListingOrAWatch) {
#if defined(__SANITIZE_THREAD__)
  // Under TSan, moving these megabytes takes minutes of CPU on a 2-core machine (not yet
  // understood: see the session notes); release and ASan run it, and the other tests here
  // cover the same threads under TSan.
  GTEST_SKIP() << "too slow under ThreadSanitizer";
#endif
  test::EtcdCluster etcd;
  auto connection = writer(etcd.endpoints());
  etcd::Kv kv(connection);
  Warnings warnings;
  ClusterOptions o = options_for(etcd, &warnings);
  o.etcd.max_receive_bytes = 1 << 20;
  Cluster running(o);
  running.add_server("127.0.0.1:3030");
  for (int i = 0; i < 8; ++i) kv.put(prefix + std::string("127.0.0.5:") + std::to_string(i + 1), std::string(300000, 'j'));
  std::int64_t last = kv.put(prefix + std::string("127.0.0.1:3031"), record("127.0.0.1:3031"));
  ASSERT_TRUE(running.wait_revision(last, 60s));
  const std::set<std::string> real = {"127.0.0.1:3030", "127.0.0.1:3031"};
  EXPECT_EQ(addresses(running), real);

  Warnings fresh_warnings;
  ClusterOptions fo = options_for(etcd, &fresh_warnings);
  fo.etcd.max_receive_bytes = 1 << 20;
  {
    Cluster fresh(fo);  // 2.4 MB of values: pages of 1,000 keys would not fit in 1 MiB
    EXPECT_EQ(addresses(fresh), real);
    EXPECT_EQ(fresh_warnings.count("skipping"), 8u);
  }

  // One value larger than a message: the running watch cannot receive its event, so it
  // re-lists past it; a new process lists the context.
  kv.put(prefix + std::string("127.0.0.5:99"), std::string(1200000, 'h'));
  last = kv.put(prefix + std::string("127.0.0.1:3032"), record("127.0.0.1:3032"));
  ASSERT_TRUE(running.wait_revision(last, 60s)) << "the watch is stuck behind the large value";
  EXPECT_TRUE(addresses(running).contains("127.0.0.1:3032"));
  EXPECT_GE(warnings.count("larger than a gRPC message"), 1u);
  Warnings late_warnings;
  fo.logger = late_warnings.logger();
  Cluster late(fo);
  EXPECT_EQ(addresses(late).size(), 3u);
  EXPECT_EQ(late_warnings.count("larger than a gRPC message"), 1u);

  // A compaction the watch has to re-list after: the running Cluster's view keeps up.
  etcd.compact(etcd.revision());
  last = kv.put(prefix + std::string("127.0.0.1:3033"), record("127.0.0.1:3033"));
  ASSERT_TRUE(running.wait_revision(last, 60s));
  EXPECT_TRUE(addresses(running).contains("127.0.0.1:3033"));
}

// A Cluster that only reads writes nothing to etcd: no lease is granted, so a read-only
// user can look ids up and an unreachable etcd is not reported as "grant lease".
TEST(HostileEtcd, ReadingGrantsNoLease) {
  test::EtcdCluster etcd;
  auto leases = [&] {
    std::string out = etcd.etcdctl({"lease", "list"});
    return out.find("found 0 leases") != std::string::npos;
  };
  std::int64_t revision = etcd.revision();
  for (std::vector<std::string> command : {std::vector<std::string>{"servers"}, {"lookup", "x"}, {"status"}}) {
    std::vector<std::string> argv = {FRODO_BINARY, "--etcd", etcd.endpoint(0), "--context", context};
    argv.insert(argv.end(), command.begin(), command.end());
    test::ProcessResult r = test::run_process(argv, 60s);
    EXPECT_EQ(r.exit_code, command[0] == "lookup" ? 1 : 0) << command[0] << ": " << r.err;  // no servers: lookup fails
    EXPECT_TRUE(leases()) << command[0] << " granted a lease";
  }
  EXPECT_EQ(etcd.revision(), revision);
  {
    Cluster reader(options_for(etcd));
    (void)reader.server_by_id("x");
    EXPECT_TRUE(leases()) << etcd.etcdctl({"lease", "list"});
    reader.add_server("127.0.0.1:3030", {.persistent = true});
    EXPECT_TRUE(leases()) << "a persistent registration needs no lease";
    reader.add_server("127.0.0.1:3031");
    EXPECT_FALSE(leases());
  }
  EXPECT_TRUE(wait_until(leases, 10s)) << "close() revokes the lease";
}

TEST(HostileEtcd, AddServerIsVisibleToItsOwnProcessAtOnce) {
  test::EtcdCluster etcd;
  Cluster cluster(options_for(etcd));
  for (int i = 1; i <= 10; ++i) {
    std::string address = "127.0.0.1:" + std::to_string(4000 + i);
    std::int64_t revision = cluster.add_server(address);
    EXPECT_GE(cluster.snapshot()->revision, revision);
    EXPECT_TRUE(addresses(cluster).contains(address)) << "run " << i;
    EXPECT_TRUE(cluster.server_by_id("id").has_value());
    ASSERT_TRUE(cluster.remove_server(address));
    EXPECT_FALSE(addresses(cluster).contains(address)) << "run " << i;
  }
}

// etcd rebuilt from scratch under a running Cluster (here: its first endpoint dies and the
// second is another cluster, whose revisions are far behind): the view follows the new etcd.
TEST(HostileEtcd, AnEtcdReplacedFromScratchIsNoticedAndFollowed) {
  test::EtcdCluster old_etcd, new_etcd;
  auto old_kv = etcd::Kv(writer(old_etcd.endpoints()));
  auto new_kv = etcd::Kv(writer(new_etcd.endpoints()));
  for (int i = 0; i < 50; ++i) old_kv.put("/other/" + std::to_string(i), "x");  // old revisions run ahead
  old_kv.put(prefix + std::string("127.0.0.1:1"), record("127.0.0.1:1"));
  new_kv.put(prefix + std::string("127.0.0.1:2"), record("127.0.0.1:2"));
  ClusterOptions o = options_for(old_etcd);
  o.etcd.endpoints = {old_etcd.endpoint(0), new_etcd.endpoint(0)};
  Warnings warnings;
  o.logger = warnings.logger();
  Cluster cluster(o);
  ASSERT_EQ(addresses(cluster), std::set<std::string>{"127.0.0.1:1"});
  old_etcd.kill(0);
  ASSERT_TRUE(wait_until([&] { return addresses(cluster) == std::set<std::string>{"127.0.0.1:2"}; }, 30s))
      << "the view stayed with the old etcd";
  EXPECT_GE(warnings.count("a new cluster id"), 1u);
  new_kv.put(prefix + std::string("127.0.0.1:3"), record("127.0.0.1:3"));
  EXPECT_TRUE(wait_until([&] { return addresses(cluster).contains("127.0.0.1:3"); }, 30s));
}

TEST(HostileEtcd, AConstructorThatCannotListLeavesNothingRunning) {
  test::EtcdCluster etcd;
  etcd.enable_auth("rootpw");
  etcd.add_user("other", "pw", "/elsewhere/");
  ClusterOptions o = options_for(etcd);
  o.etcd.user = "other";
  o.etcd.password = "pw";
  try {
    Cluster cluster(o);
    FAIL() << "listing a prefix the user may not read succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::permission_denied) << e.what();
  }
  // Nothing of that Cluster runs on: a lease would show up here (ASan/TSan see the threads).
  EXPECT_NE(etcd.etcdctl({"lease", "list"}, "root:rootpw").find("found 0 leases"), std::string::npos);
}

// The same battery against frodo processes: a `register` and a `watch` running while it is
// written survive it with bounded memory, and `servers` and `lookup` started afterwards
// answer with real servers only.
TEST(HostileEtcd, FrodoProcessesSurviveTheBattery) {
  test::EtcdCluster etcd;
  test::TempDir dir("frodo-hostile");
  std::vector<std::string> base = {FRODO_BINARY, "--etcd", etcd.endpoint(0), "--context", context};
  auto with = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  };
  process::ChildProcess reg_process =
      test::spawn_daemon(with({"register", "127.0.0.1:3030", "--ttl", "60"}), (dir.path() / "register.log").string());
  process::ChildProcess watch_process = test::spawn_daemon(with({"watch"}), (dir.path() / "watch.log").string());
  const pid_t reg = reg_process.pid(), watch = watch_process.pid();
  auto cleanup = [&] {
    reg_process.stop(0ms);  // SIGKILL and reap
    watch_process.stop(0ms);
  };
  auto servers = [&]() -> std::set<std::string> {
    test::ProcessResult r = test::run_process(with({"servers", "--json"}), 60s);
    std::set<std::string> out;
    if (r.exit_code != 0) {
      ADD_FAILURE() << "servers: exit " << r.exit_code << ": " << r.err;
      return out;
    }
    nlohmann::json view = nlohmann::json::parse(r.out);
    for (const auto& s : view["servers"]) out.insert(s["address"].get<std::string>());
    return out;
  };
  auto log = [&](const char* name) {
    std::ifstream in(dir.path() / name);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  if (!wait_until([&] { return servers().contains("127.0.0.1:3030"); }, 60s)) {
    cleanup();
    FAIL() << "register did not come up: " << log("register.log");
  }
  std::size_t rss_before = rss_bytes(watch);
  etcd::Kv kv(writer(etcd.endpoints()));
  put_all(kv, hostile_values());
  put_all(kv, foreign_records());
  // Meta-only rewrites of one large valid record: each used to leave a copy of every record
  // behind for 30 s in every process.
  const std::string blob(60000, 'm');
  for (int i = 0; i < 50; ++i) {
    kv.put(prefix + std::string("127.0.0.1:3031"), record("127.0.0.1:3031", R"(,"meta":{"blob":")" + blob +
                                                                             std::to_string(i) + "\"}"));
  }
  const std::set<std::string> real = {"127.0.0.1:3030", "127.0.0.1:3031", "127.0.0.4:1"};
  EXPECT_TRUE(wait_until([&] { return servers() == real; }, 60s));
  EXPECT_EQ(::kill(reg, 0), 0) << "register died";
  EXPECT_EQ(::kill(watch, 0), 0) << "watch died";
  std::size_t grown = rss_bytes(watch) > rss_before ? rss_bytes(watch) - rss_before : 0;
  // Sanitizers keep freed memory in quarantine; the bound is for the real build.
  EXPECT_LT(grown, sanitized ? 1024u << 20 : 48u << 20) << "watch grew by " << grown << " bytes";

  std::string ids = (dir.path() / "ids").string();
  {
    std::ofstream out(ids);
    for (int i = 0; i < 1000; ++i) out << "host-" << i << '\n';
  }
  test::ProcessResult lookup = test::run_process({"/bin/sh", "-c", "exec \"$@\" < \"$0\"", ids, FRODO_BINARY, "--etcd",
                                                  etcd.endpoint(0), "--context", context, "lookup"},
                                                 60s);
  EXPECT_EQ(lookup.exit_code, 0) << lookup.err;
  std::istringstream lines(lookup.out);
  std::string line;
  int answered = 0;
  while (std::getline(lines, line)) {
    EXPECT_TRUE(real.contains(line)) << line;
    ++answered;
  }
  EXPECT_EQ(answered, 1000);
  // The escape sequences of the hostile zone never reach a terminal raw: it was skipped.
  std::ifstream watch_log(dir.path() / "watch.log");
  std::stringstream watched;
  watched << watch_log.rdbuf();
  EXPECT_EQ(watched.str().find('\x1b'), std::string::npos);
  cleanup();
}

}  // namespace
}  // namespace frodo

namespace frodo {
namespace {

// The guarded demo (alert servers, an event client, churn) while the battery is written into
// its context: every value is skipped, and the run still passes (0 violations, 0 lost).
TEST(HostileEtcd, TheGuardedDemoPassesWhileTheBatteryIsWritten) {
  test::EtcdCluster etcd;
  test::TempDir dir("frodo-hostile-demo");
  std::string log_path = (dir.path() / "demo.log").string();
  process::ChildProcess demo_process = test::spawn_daemon(
      {FRODO_BINARY, "demo", "--etcd", etcd.endpoint(0), "--duration", "18", "--hosts", "200", "--workers", "16", "--json"},
      log_path);
  pid_t demo = demo_process.pid();
  auto log = [&] {
    std::ifstream in(log_path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  std::string demo_context;
  bool started = wait_until(
      [&] {
        std::string text = log();
        std::size_t at = text.find(", context ");
        std::size_t end = text.find('\n', at);
        if (at == std::string::npos || end == std::string::npos) return false;
        demo_context = text.substr(at + 10, end - at - 10);
        return true;
      },
      60s);
  int status = -1;
  if (started) {
    etcd::Kv kv(writer(etcd.endpoints()));
    for (const auto& [key, value] : hostile_values()) kv.put("/frodo/" + demo_context + "/servers/" + key, value);
    wait_until([&] { return waitpid(demo, &status, WNOHANG) == demo; }, 150s);
  }
  if (status == -1) {
    demo_process.stop(0ms);  // SIGKILL and reap
  }
  ASSERT_TRUE(started) << log();
  ASSERT_TRUE(WIFEXITED(status)) << "the demo did not end by itself: " << log();
  EXPECT_EQ(WEXITSTATUS(status), 0) << log();
}

}  // namespace
}  // namespace frodo
