// The Cluster API against real etcd processes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "etcd/kv.hpp"
#include "etcd_cluster.hpp"
#include "cluster_addresses.hpp"
#include "warnings.hpp"
#include "frodo/cluster.hpp"
#include "frodo/metrics.hpp"
#include "frodo/error.hpp"
#include "process/wait_until.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using process::wait_until;

ClusterOptions options_for(const test::EtcdCluster& etcd, const std::string& context = "appname") {
  ClusterOptions o;
  o.context = context;
  o.etcd.endpoints = etcd.endpoints();
  o.etcd.call_timeout = 2000ms;
  o.lease_ttl = 2s;
  o.logger = [](const std::string&) {};
  return o;
}

using test::addresses;

TEST(ClusterEtcd, TwoProcessesAgreeAndSeeEachOthersServers) {
  test::EtcdCluster etcd;
  // a's lease outlives every wait below many times over: its servers leaving in time can
  // only be close()'s revoke, never the lease expiring.
  ClusterOptions long_lease = options_for(etcd);
  long_lease.lease_ttl = 60s;
  Cluster a(long_lease), b(options_for(etcd));
  for (int i = 1; i <= 5; ++i) a.add_server("127.0.0." + std::to_string(i) + ":3030");
  b.add_server("127.0.0.9:3030", {.weight = 2, .zone = "z", .meta = {{"role", "ingest"}}});
  ASSERT_TRUE(wait_until([&] { return addresses(a).size() == 6 && addresses(b).size() == 6; }, 10s));
  ASSERT_TRUE(wait_until([&] { return a.snapshot()->revision == b.snapshot()->revision; }, 10s));
  EXPECT_EQ(a.snapshot()->ring.checksum(), b.snapshot()->ring.checksum());
  for (int i = 0; i < 10000; ++i) {
    std::string id = "host-" + std::to_string(i);
    ASSERT_EQ(a.server_by_id(id), b.server_by_id(id));
  }
  std::shared_ptr<const Snapshot> view = a.snapshot();
  const auto& servers = view->servers;
  auto it = std::find_if(servers.begin(), servers.end(), [](const ServerInfo& s) { return s.address == "127.0.0.9:3030"; });
  ASSERT_NE(it, servers.end());
  EXPECT_EQ(it->weight, 2);
  EXPECT_EQ(it->zone, "z");
  EXPECT_EQ(it->meta.at("role"), "ingest");
  // The value is stored as the documented schema says.
  etcd::Kv kv(std::make_shared<etcd::Connection>(EtcdOptions{.endpoints = etcd.endpoints()}));
  EXPECT_EQ(kv.get("/frodo/appname/servers/127.0.0.9:3030").kvs.at(0).value,
            R"({"address":"127.0.0.9:3030","meta":{"role":"ingest"},"weight":2.0,"zone":"z"})");

  // close() revokes the lease before it returns: etcd holds none of a's servers any more,
  // and they leave b's view as soon as its watch hears of it.
  a.close();
  std::vector<std::string> stored;
  for (const auto& kv_pair : kv.get_prefix("/frodo/appname/servers/").kvs) stored.push_back(kv_pair.key);
  EXPECT_EQ(stored, std::vector<std::string>{"/frodo/appname/servers/127.0.0.9:3030"});
  EXPECT_TRUE(wait_until([&] { return addresses(b) == std::set<std::string>{"127.0.0.9:3030"}; }, 5s));
}

// Every etcd call is counted by its RPC, and the records carry the views (publish_view).
TEST(ClusterEtcd, StatsCountTheCallsAndViewsAreAgreedOn) {
  test::EtcdCluster etcd;
  ClusterOptions publishing = options_for(etcd);
  publishing.publish_view = true;
  Cluster a(publishing), b(publishing), reader(options_for(etcd));
  a.add_server("127.0.0.1:3030");
  b.add_server("127.0.0.2:3030");
  auto calls = [](const Cluster& c, const std::string& method) {
    for (const EtcdCallStats& call : c.stats().registry.etcd_calls) {
      if (call.method == method) return call.latency.count;
    }
    return std::uint64_t{0};
  };
  EXPECT_EQ(calls(a, "LeaseGrant"), 1u);
  EXPECT_GE(calls(a, "Put"), 1u);
  EXPECT_GE(calls(a, "Range"), 1u);  // the listing
  EXPECT_EQ(calls(reader, "Put"), 0u);
  EXPECT_EQ(calls(reader, "LeaseGrant"), 0u);
  // Both records end up holding the checksum of the ring every process holds.
  ASSERT_TRUE(wait_until(
      [&] {
        auto view = reader.snapshot();
        if (view->servers.size() != 2) return false;
        for (const ServerInfo& s : view->servers) {
          auto it = s.meta.find(view_meta_key);
          if (it == s.meta.end() || it->second != view->ring.checksum_hex()) return false;
        }
        return true;
      },
      10s));
  EXPECT_EQ(reader.snapshot()->ring.checksum(), a.snapshot()->ring.checksum());
  EXPECT_GE(a.stats().view_publications, 1u);
  std::string text = prometheus_text(a);
  EXPECT_NE(text.find("frodo_etcd_call_duration_seconds_count{context=\"appname\",method=\"Put\"}"),
            std::string::npos)
      << text;
  a.close();
  EXPECT_EQ(calls(a, "LeaseRevoke"), 1u);
}

TEST(ClusterEtcd, ContextsAreIsolatedAndForeignValuesSkipped) {
  test::EtcdCluster etcd;
  std::mutex mutex;
  std::vector<std::string> warnings;
  ClusterOptions one = options_for(etcd, "one");
  one.logger = [&](const std::string& m) {
    std::lock_guard lock(mutex);
    warnings.push_back(m);
  };
  etcd::Kv kv(std::make_shared<etcd::Connection>(EtcdOptions{.endpoints = etcd.endpoints()}));
  kv.put("/frodo/one/servers/127.0.0.2:1", "not json at all");
  kv.put("/frodo/one/servers/127.0.0.3:1", R"({"address":"127.0.0.4:2","weight":1})");
  kv.put("/frodo/one/servers/127.0.0.5:1", R"({"address":"127.0.0.5:1","weight":-5})");
  kv.put("/frodo/one/servers/127.0.0.1:1", R"({"address":"127.0.0.1:1"})");
  kv.put("/frodo/one/other-key", "whatever");
  Cluster c1(one), c2(options_for(etcd, "two"));
  c2.add_server("127.0.0.1:1", {.weight = 3});
  ASSERT_TRUE(c1.wait_ready(5s));
  EXPECT_EQ(addresses(c1), std::set<std::string>{"127.0.0.1:1"});
  EXPECT_EQ(c1.snapshot()->servers.at(0).weight, 1);
  ASSERT_TRUE(wait_until([&] { return addresses(c2) == std::set<std::string>{"127.0.0.1:1"}; }, 5s));
  EXPECT_EQ(c2.snapshot()->servers.at(0).weight, 3);
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(warnings.size(), 3u);
  }
  // Junk written while watching is skipped too, and a later fix is picked up.
  kv.put("/frodo/one/servers/127.0.0.6:1", "{");
  kv.put("/frodo/one/servers/127.0.0.6:1", R"({"address":"127.0.0.6:1"})");
  EXPECT_TRUE(wait_until([&] { return addresses(c1).count("127.0.0.6:1") == 1; }, 5s));
}

TEST(ClusterEtcd, LookupsKeepServingWhileEtcdIsDownAndCatchUpAfter) {
  test::EtcdCluster etcd;
  Cluster a(options_for(etcd)), b(options_for(etcd));
  a.add_server("127.0.0.1:1", {.persistent = true});
  a.add_server("127.0.0.2:1", {.persistent = true});
  ASSERT_TRUE(wait_until([&] { return addresses(b).size() == 2; }, 10s));
  std::vector<std::optional<std::string>> before;
  for (int i = 0; i < 1000; ++i) before.push_back(b.server_by_id(std::to_string(i)));
  etcd.kill(0);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(b.server_by_id(std::to_string(i)), before[i]);
  EXPECT_THROW(a.add_server("127.0.0.3:1", {.persistent = true}), Error);
  etcd.restart(0);
  a.add_server("127.0.0.3:1", {.persistent = true});
  EXPECT_TRUE(wait_until([&] { return addresses(b).size() == 3; }, 15s));
}

TEST(ClusterEtcd, KillingTheLeaderNeitherFailsLookupsNorLosesRegistrations) {
  test::EtcdCluster etcd({.members = 3});
  int leader = etcd.leader();
  ClusterOptions o = options_for(etcd);
  o.etcd.endpoints = {etcd.endpoint(leader)};
  for (int i = 0; i < 3; ++i) {
    if (i != leader) o.etcd.endpoints.push_back(etcd.endpoint(i));
  }
  o.lease_ttl = 3s;
  Cluster a(o), b(o);
  a.add_server("127.0.0.1:1");
  b.add_server("127.0.0.2:1");
  ASSERT_TRUE(wait_until([&] { return addresses(a).size() == 2 && addresses(b).size() == 2; }, 10s));
  std::atomic<bool> stop{false};
  std::atomic<long> failures{0}, lookups{0};
  std::thread reader([&] {
    for (int i = 0; !stop; ++i) {
      if (!a.server_by_id(std::to_string(i))) ++failures;
      ++lookups;
    }
  });
  std::int64_t revision = b.snapshot()->revision;
  etcd.kill(leader);
  // A change made through the survivors reaches both views; the leases held on.
  b.add_server("127.0.0.3:1", {.persistent = true});
  EXPECT_TRUE(wait_until([&] { return addresses(a).size() == 3 && addresses(b).size() == 3; }, 15s));
  stop = true;
  reader.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GT(lookups, 0);
  EXPECT_GT(a.snapshot()->revision, revision);
  EXPECT_TRUE(a.lease_alive());
  EXPECT_TRUE(b.lease_alive());
  EXPECT_EQ(addresses(b), (std::set<std::string>{"127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1"}));
}

TEST(ClusterEtcd, CompactionWhileCutOffStillConvergesToTheExactMembership) {
  test::EtcdCluster etcd({.members = 3});
  int cut = (etcd.leader() + 1) % 3;
  ClusterOptions watching = options_for(etcd);
  watching.etcd.endpoints = {etcd.endpoint(cut)};
  Cluster a(watching);
  ClusterOptions writing = options_for(etcd);
  writing.etcd.endpoints = {etcd.endpoint((cut + 1) % 3), etcd.endpoint((cut + 2) % 3)};
  Cluster b(writing);
  b.add_server("127.0.0.1:1", {.persistent = true});
  ASSERT_TRUE(wait_until([&] { return addresses(a).size() == 1; }, 10s));

  etcd.kill(cut);
  b.add_server("127.0.0.2:1", {.persistent = true});
  b.add_server("127.0.0.3:1", {.persistent = true});
  b.remove_server("127.0.0.1:1");
  etcd::Kv kv(std::make_shared<etcd::Connection>(EtcdOptions{.endpoints = writing.etcd.endpoints}));
  kv.compact(kv.get("/x").revision);
  etcd.restart(cut);
  EXPECT_TRUE(wait_until([&] { return addresses(a) == std::set<std::string>{"127.0.0.2:1", "127.0.0.3:1"}; }, 30s));
  EXPECT_EQ(a.snapshot()->ring.checksum(), b.snapshot()->ring.checksum());
  // Counted: the failed watch stream and the re-listing after the compaction.
  ClusterStats stats = a.stats();
  EXPECT_GE(stats.registry.watch_restarts, 1u);
  EXPECT_GE(stats.registry.resyncs, 1u);
}

// Reads a child's stdout line by line (the child is killed by PID when done).
class Probe {
 public:
  Probe(const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fds[1], 1);
      close(fds[0]);
      close(fds[1]);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(fds[1]);
    in_ = fdopen(fds[0], "r");
  }
  ~Probe() {
    ::kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    fclose(in_);
  }
  std::optional<std::string> line() {
    char buffer[256];
    if (!fgets(buffer, sizeof buffer, in_)) return std::nullopt;
    std::string s(buffer);
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
  FILE* in_;
};

TEST(ClusterEtcd, AProcessFrozenPastItsTtlIsToldBeforeItOwnsAgain) {
  test::EtcdCluster etcd;
  std::string endpoints;
  for (const auto& e : etcd.endpoints()) endpoints += (endpoints.empty() ? "" : ",") + e;
  Probe probe({FRODO_LEASE_PROBE, endpoints, "appname", "127.0.0.1:1", "1"});
  ASSERT_EQ(probe.line(), "ready");
  ASSERT_TRUE(probe.line()->rfind("tick", 0) == 0);
  Cluster observer(options_for(etcd));
  ASSERT_TRUE(wait_until([&] { return addresses(observer).count("127.0.0.1:1") == 1; }, 10s));

  ::kill(probe.pid(), SIGSTOP);
  // etcd expires the frozen process's lease: its server leaves every other view.
  ASSERT_TRUE(wait_until([&] { return addresses(observer).count("127.0.0.1:1") == 0; }, 15s));
  long long resumed = std::chrono::steady_clock::now().time_since_epoch().count();
  ::kill(probe.pid(), SIGCONT);

  // From the moment it resumes: it must not own anything until it has been told of the loss.
  // Lines written before the freeze may still be in the pipe: only stamps taken after the
  // wake count, for the loss report as for the ownership checks.
  bool told = false, owns_again = false;
  while (auto line = probe.line()) {
    long long at = 0;
    int owns = 0, alive = 0;
    char word[16];
    if (std::sscanf(line->c_str(), "%15s %lld %d %d", word, &at, &owns, &alive) < 2) continue;
    if (std::string(word) == "lost") {
      if (at < resumed) continue;  // a loss reported before the freeze is not this one
      told = true;
      // "expired", or "unreachable" when the freeze caught a keepalive in flight: from
      // inside a frozen process the two look alike; both mean the deadline passed.
      EXPECT_TRUE(line->find("expired") != std::string::npos || line->find("unreachable") != std::string::npos)
          << *line;
      continue;
    }
    if (at < resumed) continue;  // computed before the freeze, printed after it
    if (!told) {
      EXPECT_EQ(owns, 0) << "owned an id after waking, before being told its lease was lost";
    }
    if (told && owns == 1) {
      owns_again = true;  // re-granted and re-registered
      break;
    }
  }
  EXPECT_TRUE(told);
  EXPECT_TRUE(owns_again);
  EXPECT_TRUE(wait_until([&] { return addresses(observer).count("127.0.0.1:1") == 1; }, 10s));
}

// Options for a Cluster whose only endpoint refuses every connection.
ClusterOptions unreachable(std::chrono::milliseconds call_timeout) {
  ClusterOptions o;
  o.context = "appname";
  o.etcd.endpoints = {"127.0.0.1:1"};
  o.etcd.call_timeout = call_timeout;
  return o;
}

void expect_unavailable_naming_the_endpoint(const ClusterOptions& o) {
  try {
    Cluster c(o);
    FAIL() << "a Cluster was made without etcd";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::unavailable) << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
}

TEST(ClusterEtcd, UnreachableEtcdFailsTheConstructorNamingIt) {
  expect_unavailable_naming_the_endpoint(unreachable(500ms));
}

// Options for the connect-deadline tests: short calls, a long connect deadline, warnings kept.
ClusterOptions waiting_for_etcd(const test::EtcdCluster& etcd, test::Warnings& messages,
                                std::chrono::milliseconds connect_timeout) {
  ClusterOptions o = options_for(etcd);
  o.etcd.call_timeout = 500ms;
  o.connect_timeout = connect_timeout;
  o.logger = messages.logger();
  return o;
}

TEST(ClusterEtcd, AConnectDeadlineWaitsForEtcdToComeUp) {
  test::EtcdCluster etcd;
  test::Warnings messages;
  ClusterOptions o = waiting_for_etcd(etcd, messages, 60s);
  etcd.kill(0);
  std::unique_ptr<Cluster> cluster;
  std::string failure;
  std::thread connecting([&] {
    try {
      cluster = std::make_unique<Cluster>(o);
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  // The constructor found etcd down and said it waits (without a deadline it would have
  // thrown, and the message would never come).
  bool told = wait_until([&] { return messages.count("etcd is not answering yet") > 0; }, 30s);
  etcd.restart(0);
  connecting.join();
  ASSERT_TRUE(told);
  ASSERT_EQ(failure, "");
  ASSERT_TRUE(cluster);
  cluster->add_server("127.0.0.1:1");
  EXPECT_EQ(addresses(*cluster), std::set<std::string>{"127.0.0.1:1"});
}

TEST(ClusterEtcd, AConnectDeadlineWaitsToGrantTheFirstLease) {
  test::EtcdCluster etcd;
  test::Warnings messages;
  ClusterOptions o = waiting_for_etcd(etcd, messages, 60s);
  Cluster cluster(o);  // listed; no lease yet (the first add_server grants it)
  etcd.kill(0);
  std::string failure;
  std::thread adding([&] {
    try {
      cluster.add_server("127.0.0.1:1");
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  // Without the deadline the grant would have failed at once, and the message never come.
  bool told = wait_until([&] { return messages.count("granting the lease: etcd is not answering yet") > 0; }, 30s);
  etcd.restart(0);
  adding.join();
  ASSERT_TRUE(told);
  ASSERT_EQ(failure, "");
  EXPECT_TRUE(cluster.lease_alive());
  EXPECT_EQ(addresses(cluster), std::set<std::string>{"127.0.0.1:1"});
}

// Changes that arrive while the Cluster is busy with a view (here: an on_change callback
// that blocks, standing for a slow ring build) become one view when it is done, not one
// view per change. Without the coalescing each of the 20 watch responses was delivered on
// the watcher's thread, one after the other, 20 calls in all.
TEST(ClusterEtcd, ABurstOfChangesDuringOneViewBecomesOneView) {
  test::EtcdCluster etcd;
  Cluster watching(options_for(etcd));
  Cluster writing(options_for(etcd));
  std::mutex gate;
  std::unique_lock<std::mutex> closed_gate(gate);
  std::atomic<int> calls{0};
  std::atomic<std::int64_t> last_revision{0};
  Subscription counting = watching.on_change([&](const Snapshot&, const Snapshot& after) {
    ++calls;
    std::lock_guard<std::mutex> wait_for_the_gate(gate);
    last_revision = after.revision;
  });
  std::int64_t last_write = writing.add_server("127.0.0.1:1");
  ASSERT_TRUE(wait_until([&] { return calls.load() == 1; }, 30s));  // blocked in the first call
  for (int i = 2; i <= 21; ++i) last_write = writing.add_server("127.0.0.1:" + std::to_string(i));
  closed_gate.unlock();
  ASSERT_TRUE(watching.wait_revision(last_write, 30s));
  ASSERT_TRUE(wait_until([&] { return last_revision.load() >= last_write; }, 30s));
  EXPECT_EQ(watching.snapshot()->ring.size(), 21u);
  // The blocked call, then (usually) one view of the whole burst; a few more only if the
  // watcher had not received every change when the gate opened.
  EXPECT_LT(calls.load(), 10) << "changes were delivered one by one";
}

// close() while the first grant waits for etcd: the waiting add_server gives up as closed
// within one wait, instead of holding close() up to the connect deadline and then failing as
// unavailable.
TEST(ClusterEtcd, ClosingWhileTheFirstGrantWaitsEndsTheWait) {
  test::EtcdCluster etcd;
  test::Warnings messages;
  ClusterOptions o = waiting_for_etcd(etcd, messages, 600s);
  Cluster cluster(o);
  etcd.kill(0);
  std::optional<Errc> failure;
  std::thread adding([&] {
    try {
      cluster.add_server("127.0.0.1:1");
    } catch (const Error& e) {
      failure = e.code();
    }
  });
  bool told = wait_until([&] { return messages.count("granting the lease: etcd is not answering yet") > 0; }, 30s);
  cluster.close();
  adding.join();
  ASSERT_TRUE(told);
  ASSERT_TRUE(failure.has_value());
  EXPECT_EQ(*failure, Errc::failed_precondition);
}

TEST(ClusterEtcd, AConnectDeadlineThatPassesFailsNamingTheEndpoint) {
  test::Warnings messages;
  ClusterOptions o = unreachable(200ms);
  o.connect_timeout = 1s;
  o.logger = messages.logger();
  expect_unavailable_naming_the_endpoint(o);
  EXPECT_GE(messages.count("trying again for up to 1000 ms"), 1u);
}

}  // namespace
}  // namespace frodo
