// A Cluster through etcd's gRPC proxy (`etcd grpc-proxy start`) works exactly as it does
// directly: listing, watching, resuming, resyncing after a compaction, keeping its lease,
// and failing over when a proxy dies. docs/proxy.md says how to deploy one.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"
#include "cluster_addresses.hpp"
#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"
#include "process/free_port.hpp"
#include "process/grpc_proxy.hpp"
#include "process/local_etcd.hpp"
#include "process/loopback_http.hpp"
#include "process/wait_until.hpp"
#include "temp_dir.hpp"
#include "warnings.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using process::wait_until;

// One etcd member and `n` gRPC proxies in front of it, each with its own log.
struct ProxiedEtcd {
  explicit ProxiedEtcd(int n = 1, test::EtcdClusterOptions options = {}) : etcd(std::move(options)) {
    for (int i = 0; i < n; ++i) {
      std::string name = "proxy" + std::to_string(i);
      proxies.push_back(
          std::make_unique<process::GrpcProxy>(etcd.endpoints(), dir.path() / name, dir.path() / (name + ".log")));
    }
  }
  std::string proxy(int i) const { return proxies.at(i)->endpoint(); }

  test::EtcdCluster etcd;
  test::TempDir dir{"frodo-proxy-test"};
  std::vector<std::unique_ptr<process::GrpcProxy>> proxies;
};

ClusterOptions options_for(std::vector<std::string> endpoints, test::Warnings* warnings = nullptr) {
  ClusterOptions o;
  o.context = "appname";
  o.etcd.endpoints = std::move(endpoints);
  o.etcd.call_timeout = 2000ms;
  // The proxy starts in the background: the first call waits for it to answer.
  o.connect_timeout = 20000ms;
  // The proxy answers a keepalive when its own client next renews the lease (every TTL/3,
  // polled every 0.5 s): a keeper's local deadline keeps a margin of only TTL/3 - 0.5 s
  // through it, too little for a 2 s lease on a loaded machine (docs/proxy.md).
  o.lease_ttl = 5s;
  if (warnings) {
    o.logger = warnings->logger();
  } else {
    o.logger = [](const std::string&) {};
  }
  return o;
}

using test::addresses;

// Both views hold exactly `expected`, at one revision, with one ring.
bool agree(const Cluster& a, const Cluster& b, const std::set<std::string>& expected) {
  std::shared_ptr<const Snapshot> va = a.snapshot(), vb = b.snapshot();
  return addresses(a) == expected && addresses(b) == expected && va->revision == vb->revision &&
         va->ring.checksum() == vb->ring.checksum();
}

std::shared_ptr<etcd::Connection> connect(const std::vector<std::string>& endpoints) {
  return std::make_shared<etcd::Connection>(EtcdOptions{.endpoints = endpoints, .call_timeout = 3000ms});
}

// How many Range calls the etcd member at `endpoint` ("127.0.0.1:PORT") has started, from
// its Prometheus metrics on the client port: one HTTP/1.0 GET, at most 16 MiB, 5 s per read.
// -1 when it does not answer or the counter is missing. (etcd 3.4's proxy has cache hit and
// miss gauges, but the Debian build leaves them at 0: counting at etcd is what is left.)
double etcd_range_calls(const std::string& endpoint) {
  std::string body;
  try {
    body = process::loopback_http_get(std::atoi(endpoint.substr(endpoint.rfind(':') + 1).c_str()), "/metrics");
  } catch (const std::runtime_error&) {
    return -1;
  }
  const std::string name =
      "\ngrpc_server_started_total{grpc_method=\"Range\",grpc_service=\"etcdserverpb.KV\",grpc_type=\"unary\"} ";
  std::size_t at = body.find(name);
  if (at == std::string::npos) return -1;
  return std::strtod(body.c_str() + at + name.size(), nullptr);
}

// Pages that a listing of `result` took at `page_size` keys per page (every page full but
// the last, nothing unreadable).
std::int64_t pages_of(const etcd::RangeResult& result, std::int64_t page_size) {
  return std::max<std::int64_t>(1, (static_cast<std::int64_t>(result.kvs.size()) + page_size - 1) / page_size);
}

// The start-up storm (issue 14): processes listing the same context at the same revision
// are answered from the proxy's cache, all but the first; etcd answers each page once. And
// the listing is the same, record for record, as one read directly from etcd.
TEST(ClusterProxy, ListingsAtOneRevisionAreAnsweredFromTheProxysCache) {
  ProxiedEtcd etcd;
  etcd::Kv around(connect(etcd.etcd.endpoints()));
  const std::string prefix = "/frodo/appname/servers/";
  for (int i = 0; i < 25; ++i) around.put(prefix + "127.0.0." + std::to_string(i + 1) + ":1", "v" + std::to_string(i));
  const std::int64_t page_size = 4;
  const std::string member = etcd.etcd.endpoint(0);
  ASSERT_TRUE(wait_until([&] { return process::accepts_connections(etcd.proxies[0]->port()); }, 30s));

  // Two processes, each with its own connection to the proxy.
  etcd::Kv first(connect({etcd.proxy(0)})), second(connect({etcd.proxy(0)}));
  const etcd::RangeResult a = first.get_prefix(prefix, page_size);
  ASSERT_EQ(a.kvs.size(), 25u);
  const double calls_before = etcd_range_calls(member);
  ASSERT_GE(calls_before, 0) << "etcd's metrics cannot be read";
  const etcd::RangeResult b = second.get_prefix(prefix, page_size);
  const double calls_after = etcd_range_calls(member);
  ASSERT_EQ(b.revision, a.revision);  // nothing was written in between
  ASSERT_EQ(pages_of(b, page_size), 7);
  // Only the revision's pin reached etcd; the 7 pages came from the proxy's cache.
  EXPECT_LE(calls_after - calls_before, 1) << "etcd started " << calls_after - calls_before
                                           << " Range calls for the second listing of " << pages_of(b, page_size)
                                           << " pages";

  // What both listed is what etcd holds at that revision, read in one request.
  etcd::RangeResult direct = around.get_prefix(prefix);
  ASSERT_EQ(direct.revision, a.revision);
  for (const etcd::RangeResult* r : {&a, &b}) {
    ASSERT_EQ(r->kvs.size(), direct.kvs.size());
    EXPECT_EQ(r->cluster_id, direct.cluster_id);
    EXPECT_TRUE(r->unreadable.empty());
    for (std::size_t i = 0; i < direct.kvs.size(); ++i) {
      EXPECT_EQ(r->kvs[i].key, direct.kvs[i].key);
      EXPECT_EQ(r->kvs[i].value, direct.kvs[i].value);
      EXPECT_EQ(r->kvs[i].mod_revision, direct.kvs[i].mod_revision);
    }
  }

  // A write moves the revision: the next listing reads the new snapshot, not the cached one.
  around.put(prefix + "127.0.0.99:1", "new");
  etcd::RangeResult c = second.get_prefix(prefix, page_size);
  EXPECT_GT(c.revision, a.revision);
  EXPECT_EQ(c.kvs.size(), 26u);
}

// A revision etcd has not reached, and one it has compacted, are told apart directly and
// through the proxy (which loses etcd's gRPC code and keeps its message). A listing reads a
// page that is in the future for the member answering linearizably instead; with one etcd
// member that cannot be provoked, so this checks that the real answers are recognised.
TEST(ClusterProxy, FutureAndCompactedRevisionsAreRecognisedDirectlyAndThroughTheProxy) {
  ProxiedEtcd etcd;
  etcd::Kv around(connect(etcd.etcd.endpoints()));
  around.put("/r/a", "1");
  const std::int64_t old_revision = around.put("/r/a", "2");
  const std::int64_t now = around.put("/r/a", "3");
  around.compact(now);
  ASSERT_TRUE(wait_until([&] { return process::accepts_connections(etcd.proxies[0]->port()); }, 30s));
  for (const std::string& endpoint : {etcd.etcd.endpoint(0), etcd.proxy(0)}) {
    SCOPED_TRACE(endpoint);
    auto connection = connect({endpoint});
    auto status_at = [&](std::int64_t revision, bool serializable) {
      etcdserverpb::RangeRequest request;
      request.set_key("/r/a");
      request.set_revision(revision);
      request.set_serializable(serializable);
      etcdserverpb::RangeResponse response;
      grpc::Status status;
      // call() throws on the error; the attempt keeps the status it saw.
      EXPECT_THROW(connection->call(etcd::Rpc::range, "read",
                                    [&](etcd::Endpoint& e, grpc::ClientContext& c) {
                                      status = e.kv->Range(&c, request, &response);
                                      return status;
                                    }),
                   Error);
      return status;
    };
    for (bool serializable : {true, false}) {
      grpc::Status future = status_at(now + 1000, serializable);
      EXPECT_EQ(etcd::classify_range_failure(future), etcd::RangeFailure::future_revision)
          << future.error_code() << " " << future.error_message();
      grpc::Status compacted = status_at(old_revision, serializable);
      EXPECT_EQ(etcd::classify_range_failure(compacted), etcd::RangeFailure::compacted)
          << compacted.error_code() << " " << compacted.error_message();
    }
  }
}

// etcd's gRPC proxy does not answer a watch stream's progress request (etcd issue 19710): a
// watcher that took the silence for a dead member abandoned its stream after every idle
// probe, and opened a new one through the same proxy, over and over.
TEST(ClusterProxy, AnIdleWatchThroughTheProxyKeepsItsStream) {
  ProxiedEtcd etcd;
  for (const std::string& endpoint : {etcd.proxy(0), etcd.etcd.endpoint(0)}) {
    SCOPED_TRACE(endpoint);
    auto connection = std::make_shared<etcd::Connection>(
        EtcdOptions{.endpoints = {endpoint}, .call_timeout = 1000ms});
    std::mutex mutex;
    std::vector<std::string> keys;
    std::vector<std::string> errors;
    etcd::Watcher watcher(
        connection, "/idle/" + endpoint + "/", 1,
        etcd::WatcherCallbacks{[&](const std::vector<etcd::WatchEvent>& events, std::int64_t) {
                                 std::lock_guard lock(mutex);
                                 for (const auto& e : events) keys.push_back(e.kv.key);
                               },
                               {}, [](std::int64_t) {},
                               [&](const Error& e) {
                                 std::lock_guard lock(mutex);
                                 errors.push_back(e.what());
                               }},
        etcd::WatcherOptions{.idle_probe = 200ms});
    // Every probe is answered, and the first stream is the only one.
    ASSERT_TRUE(wait_until([&] { return watcher.probes_answered() >= 5; }, 30s))
        << "probes answered: " << watcher.probes_answered() << ", streams: " << watcher.streams_opened();
    EXPECT_EQ(watcher.streams_opened(), 1);
    // And the stream still delivers.
    etcd::Kv(connect(etcd.etcd.endpoints())).put("/idle/" + endpoint + "/k", "x");
    EXPECT_TRUE(wait_until(
        [&] {
          std::lock_guard lock(mutex);
          return keys == std::vector<std::string>{"/idle/" + endpoint + "/k"};
        },
        10s));
    EXPECT_EQ(watcher.streams_opened(), 1);
    std::lock_guard lock(mutex);
    EXPECT_TRUE(errors.empty()) << errors.front();
  }
}


// The same listing, the same changes, the same ring through the proxy as directly, and the
// same etcd cluster id in the answers (a Cluster takes a new id for etcd replaced).
TEST(ClusterProxy, ListsAndWatchesAsAProcessConnectedDirectly) {
  ProxiedEtcd etcd;
  test::Warnings warnings;
  Cluster direct(options_for(etcd.etcd.endpoints(), &warnings));
  direct.add_server("127.0.0.1:1");
  direct.add_server("127.0.0.2:1", {.persistent = true});
  // Listed through the proxy: what was there before it started.
  Cluster proxied(options_for({etcd.proxy(0)}, &warnings));
  ASSERT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.1:1", "127.0.0.2:1"}); }, 10s));

  // Changes either side makes, seen by both.
  proxied.add_server("127.0.0.3:1", {.weight = 2, .zone = "z"});
  direct.add_server("127.0.0.4:1");
  ASSERT_TRUE(wait_until(
      [&] { return agree(direct, proxied, {"127.0.0.1:1", "127.0.0.2:1", "127.0.0.3:1", "127.0.0.4:1"}); }, 10s));
  EXPECT_TRUE(proxied.remove_server("127.0.0.1:1"));
  EXPECT_TRUE(direct.remove_server("127.0.0.3:1"));
  ASSERT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.2:1", "127.0.0.4:1"}); }, 10s));
  for (int i = 0; i < 1000; ++i) {
    std::string id = "host-" + std::to_string(i);
    ASSERT_EQ(direct.server_by_id(id), proxied.server_by_id(id));
  }

  // A third process through the proxy: its listing agrees too.
  Cluster late(options_for({etcd.proxy(0)}, &warnings));
  EXPECT_TRUE(wait_until([&] { return agree(direct, late, {"127.0.0.2:1", "127.0.0.4:1"}); }, 10s));

  // The proxy passes etcd's own response headers on.
  etcd::Kv through(connect({etcd.proxy(0)})), around(connect(etcd.etcd.endpoints()));
  etcd::RangeResult a = through.get_prefix("/frodo/appname/servers/"), b = around.get_prefix("/frodo/appname/servers/");
  EXPECT_NE(a.cluster_id, 0u);
  EXPECT_EQ(a.cluster_id, b.cluster_id);
  EXPECT_EQ(a.kvs.size(), b.kvs.size());
  proxied.close();
  EXPECT_TRUE(wait_until([&] { return addresses(direct) == std::set<std::string>{"127.0.0.2:1", "127.0.0.4:1"}; }, 10s));
  for (const Cluster* c : {&direct, &late}) {
    EXPECT_EQ(c->snapshot()->restarts, 0u);
    EXPECT_EQ(c->stats().registry.resyncs, 0u);
  }
  EXPECT_EQ(warnings.count("etcd was replaced"), 0u);
  EXPECT_EQ(warnings.count("belongs to another cluster"), 0u);
}

// A lease kept alive through the proxy: keepalives reach etcd, and the lease outlives its
// TTL three times over.
TEST(ClusterProxy, LeaseKeepalivesGoThroughTheProxy) {
  ProxiedEtcd etcd;
  test::Warnings warnings;
  Cluster proxied(options_for({etcd.proxy(0)}, &warnings));  // 5 s lease
  Cluster direct(options_for(etcd.etcd.endpoints()));
  proxied.add_server("127.0.0.1:1");
  ASSERT_TRUE(wait_until([&] { return addresses(direct) == std::set<std::string>{"127.0.0.1:1"}; }, 10s));

  // A keeper of its own through the proxy: its local deadline moves only with keepalives
  // etcd answered (through the proxy).
  std::atomic<int> losses{0};
  etcd::LeaseKeeper keeper(connect({etcd.proxy(0)}), {.ttl = 5s},
                           [&](std::int64_t, etcd::LeaseLoss) { ++losses; });
  const auto first = keeper.deadline();
  etcd::Kv around(connect(etcd.etcd.endpoints()));
  around.put("/kept", "x", keeper.id());
  ASSERT_TRUE(wait_until([&] { return keeper.deadline() >= first + 15s; }, 60s))
      << "losses " << losses.load() << " alive " << keeper.alive() << " advanced ms "
      << std::chrono::duration_cast<std::chrono::milliseconds>(keeper.deadline() - first).count();
  EXPECT_EQ(losses.load(), 0);
  EXPECT_GE(around.lease_info(keeper.id()).ttl, 0);  // -1: gone
  EXPECT_EQ(around.get("/kept").kvs.size(), 1u);

  // Meanwhile (over 3 TTLs of the Cluster's lease) its server stayed, on its first lease.
  EXPECT_TRUE(proxied.lease_alive());
  EXPECT_EQ(addresses(direct), std::set<std::string>{"127.0.0.1:1"});
  etcd::LeaseInfo info = around.lease_info(proxied.lease_id(), true);
  EXPECT_GT(info.ttl, 0);
  EXPECT_EQ(info.keys, std::vector<std::string>{"/frodo/appname/servers/127.0.0.1:1"});
  EXPECT_TRUE(proxied.stats().lease_losses.empty());
  EXPECT_EQ(proxied.stats().registry.watch_restarts, 0u);
  EXPECT_EQ(warnings.count(""), 0u);
}

// The proxy dies and comes back on the same port: the watch resumes where it was (no event
// missed, no re-listing), the lease is kept, writes go through again.
TEST(ClusterProxy, AProxyRestartedOnItsPortIsResumedThrough) {
  ProxiedEtcd etcd;
  test::Warnings warnings;
  ClusterOptions o = options_for({etcd.proxy(0)}, &warnings);
  o.lease_ttl = 10s;  // outlives the restart on a loaded machine
  Cluster proxied(o);
  Cluster direct(options_for(etcd.etcd.endpoints()));
  proxied.add_server("127.0.0.1:1");
  ASSERT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.1:1"}); }, 10s));
  const std::int64_t lease = proxied.lease_id();

  etcd.proxies[0]->kill();
  direct.add_server("127.0.0.2:1", {.persistent = true});
  direct.add_server("127.0.0.3:1", {.persistent = true});
  EXPECT_TRUE(direct.remove_server("127.0.0.3:1"));
  etcd.proxies[0]->restart();
  EXPECT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.1:1", "127.0.0.2:1"}); }, 30s));
  proxied.add_server("127.0.0.4:1");
  EXPECT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.1:1", "127.0.0.2:1", "127.0.0.4:1"}); }, 10s));
  ClusterStats stats = proxied.stats();
  EXPECT_GE(stats.registry.watch_restarts, 1u);  // the stream broke and was resumed...
  EXPECT_EQ(stats.registry.resyncs, 0u);         // ...not re-listed
  EXPECT_EQ(proxied.lease_id(), lease);
  EXPECT_TRUE(stats.lease_losses.empty());
  EXPECT_EQ(warnings.count("etcd was replaced"), 0u);
  EXPECT_EQ(warnings.count("belongs to another cluster"), 0u);
}

// Compacted while the watcher was behind (its proxy down): the proxy relays the compaction,
// the Cluster re-lists and converges to the exact membership.
TEST(ClusterProxy, CompactionWhileBehindTheProxyResyncs) {
  ProxiedEtcd etcd;
  test::Warnings warnings;
  Cluster proxied(options_for({etcd.proxy(0)}, &warnings));
  Cluster direct(options_for(etcd.etcd.endpoints()));
  direct.add_server("127.0.0.1:1", {.persistent = true});
  ASSERT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.1:1"}); }, 10s));

  etcd.proxies[0]->kill();
  direct.add_server("127.0.0.2:1", {.persistent = true});
  direct.add_server("127.0.0.3:1", {.persistent = true});
  EXPECT_TRUE(direct.remove_server("127.0.0.1:1"));
  etcd.etcd.compact(etcd.etcd.revision());
  etcd.proxies[0]->restart();
  EXPECT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.2:1", "127.0.0.3:1"}); }, 30s));
  EXPECT_GE(proxied.stats().registry.resyncs, 1u);
  EXPECT_EQ(warnings.count("etcd was replaced"), 0u);
  EXPECT_EQ(warnings.count("belongs to another cluster"), 0u);
  EXPECT_EQ(proxied.snapshot()->restarts, 0u);
}

// Given two proxies, a Cluster fails over to the other when the one it uses dies: same
// etcd cluster id through both (no "etcd was replaced"), watch and lease carry on.
TEST(ClusterProxy, TwoProxiesFailOverWhenOneDies) {
  ProxiedEtcd etcd(2);
  test::Warnings warnings;
  ClusterOptions o = options_for({etcd.proxy(0), etcd.proxy(1)}, &warnings);
  o.lease_ttl = 10s;
  Cluster proxied(o);
  Cluster direct(options_for(etcd.etcd.endpoints()));
  proxied.add_server("127.0.0.1:1");
  ASSERT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.1:1"}); }, 10s));
  const std::int64_t lease = proxied.lease_id();

  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round);
    // Kill both in turn: whichever the Cluster uses dies once.
    const int dead = round;
    etcd.proxies[dead]->kill();
    const std::string added = "127.0.0." + std::to_string(10 + round) + ":1";
    direct.add_server(added, {.persistent = true});
    EXPECT_TRUE(wait_until([&] { return addresses(proxied).count(added) == 1; }, 30s));
    const std::string mine = "127.0.0." + std::to_string(20 + round) + ":1";
    proxied.add_server(mine);  // a write, and read-your-writes through the other proxy
    EXPECT_TRUE(wait_until([&] { return addresses(direct).count(mine) == 1; }, 10s));
    EXPECT_TRUE(wait_until([&] { return agree(direct, proxied, addresses(direct)); }, 10s));
    etcd.proxies[dead]->restart();
  }
  ClusterStats stats = proxied.stats();
  EXPECT_EQ(stats.registry.resyncs, 0u);
  EXPECT_EQ(proxied.lease_id(), lease);
  EXPECT_TRUE(stats.lease_losses.empty());
  EXPECT_EQ(proxied.snapshot()->restarts, 0u);
  EXPECT_EQ(warnings.count("etcd was replaced"), 0u);
  EXPECT_EQ(warnings.count("belongs to another cluster"), 0u);
}

// Guards agree across the proxy: each admits what it owns and redirects the rest to the
// other, whichever way it reaches etcd.
TEST(ClusterProxy, GuardsAdmitAndRedirectThroughTheProxy) {
  ProxiedEtcd etcd;
  Cluster proxied(options_for({etcd.proxy(0)})), direct(options_for(etcd.etcd.endpoints()));
  Guard gp(proxied, "127.0.0.1:1"), gd(direct, "127.0.0.2:1");
  ASSERT_TRUE(wait_until([&] { return agree(direct, proxied, {"127.0.0.1:1", "127.0.0.2:1"}); }, 10s));
  for (int i = 0; i < 20; ++i) {
    const std::string id = "host-" + std::to_string(i);
    const std::string owner = *direct.server_by_id(id);
    Guard& mine = owner == "127.0.0.1:1" ? gp : gd;
    Guard& other = owner == "127.0.0.1:1" ? gd : gp;
    EXPECT_TRUE(wait_until([&] { return mine.admit(id).verdict() == Verdict::admit; }, 20s)) << id;
    Admission redirected = other.admit(id);
    EXPECT_EQ(redirected.verdict(), Verdict::redirect) << id;
    EXPECT_EQ(redirected.owner(), owner);
  }
}

// etcd replaced behind the proxy (a new etcd, empty, on the same address: revisions started
// over): the Cluster through the proxy sees it as the one connected directly does. The
// proxy keeps its clients' watch streams open across the change (its own watch on etcd
// reconnects), so a watcher that only listened would stay silent, holding the old view,
// until the new etcd's revisions reached the watched one.
TEST(ClusterProxy, EtcdReplacedBehindTheProxyIsSeenAsReplaced) {
  test::TempDir dir("frodo-proxy-test");
  process::PortReservation client_port, peer_a, peer_b;
  const std::string client_url = "http://127.0.0.1:" + std::to_string(client_port.port());
  // Members started by hand: the harness's EtcdCluster restarts a member on its own data.
  auto member = [&](const std::string& name, int peer) {
    process::EtcdMemberConfig config;
    config.name = name;
    config.data_dir = dir.path() / name;
    config.client_url = client_url;
    config.peer_url = "http://127.0.0.1:" + std::to_string(peer);
    return process::ChildProcess(process::etcd_command(config), (dir.path() / (name + ".log")).string());
  };
  const std::string endpoint = "127.0.0.1:" + std::to_string(client_port.port());
  process::ChildProcess etcd = member("a", peer_a.port());
  process::GrpcProxy proxy({endpoint}, dir.path() / "proxy", dir.path() / "proxy.log");
  test::Warnings direct_warnings, proxied_warnings;
  Cluster direct(options_for({endpoint}, &direct_warnings));
  Cluster proxied(options_for({proxy.endpoint()}, &proxied_warnings));
  for (int i = 1; i <= 5; ++i) direct.add_server("127.0.0.1:" + std::to_string(i), {.persistent = true});
  ASSERT_TRUE(wait_until([&] { return agree(direct, proxied, addresses(direct)) && addresses(direct).size() == 5; }, 10s));

  etcd.stop(std::chrono::milliseconds(0));
  etcd = member("b", peer_b.port());
  etcd::Kv fresh(connect({endpoint}));
  ASSERT_TRUE(wait_until([&] {
    try {
      fresh.put("/frodo/appname/servers/127.0.0.9:1", R"({"address":"127.0.0.9:1","weight":1})");
      return true;
    } catch (const Error&) {
      return false;
    }
  }, 20s));
  EXPECT_TRUE(wait_until([&] { return addresses(direct) == std::set<std::string>{"127.0.0.9:1"}; }, 20s));
  EXPECT_TRUE(wait_until([&] { return addresses(proxied) == std::set<std::string>{"127.0.0.9:1"}; }, 20s));
  EXPECT_EQ(direct.snapshot()->restarts, 1u);
  EXPECT_EQ(proxied.snapshot()->restarts, 1u);
  EXPECT_EQ(direct_warnings.count("etcd was replaced"), 1u);
  EXPECT_EQ(proxied_warnings.count("etcd was replaced"), 1u);
}

// The proxy keeps pages by revision and never drops them for a new etcd: after etcd is
// replaced behind it, a listing at a revision number the old etcd also had finds the old
// etcd's page in the cache. Its answer names the old cluster, and the listing reads that page
// again from the new etcd instead of mixing the two.
TEST(ClusterProxy, AListingIgnoresACachedPageOfAnEtcdReplacedBehindTheProxy) {
  test::TempDir dir("frodo-proxy-test");
  process::PortReservation client_port, peer_a, peer_b;
  auto member = [&](const std::string& name, int peer) {
    process::EtcdMemberConfig config;
    config.name = name;
    config.data_dir = dir.path() / name;
    config.client_url = "http://127.0.0.1:" + std::to_string(client_port.port());
    config.peer_url = "http://127.0.0.1:" + std::to_string(peer);
    return process::ChildProcess(process::etcd_command(config), (dir.path() / (name + ".log")).string());
  };
  const std::string endpoint = "127.0.0.1:" + std::to_string(client_port.port());
  const std::string prefix = "/l/";
  // Writes ten keys, `name`-0 to -9, into a fresh member; -> the revision of the last.
  auto fill = [&](const std::string& name) {
    etcd::Kv kv(connect({endpoint}));
    // A read first, retried until the member answers: a write that timed out might have
    // been applied, and the revisions must come out exactly.
    EXPECT_TRUE(wait_until([&] {
      try {
        kv.get("/l/none");
        return true;
      } catch (const Error&) {
        return false;
      }
    }, 20s));
    std::int64_t revision = 0;
    for (int i = 0; i < 10; ++i) revision = kv.put(prefix + name + "-" + std::to_string(i), name);
    return revision;
  };
  // Lists through `proxy` once it answers (it reconnects to a new etcd in the background).
  auto list_through = [&](const process::GrpcProxy& proxy) {
    etcd::Kv through(connect({proxy.endpoint()}));
    std::optional<etcd::RangeResult> result;
    EXPECT_TRUE(wait_until([&] {
      try {
        result = through.get_prefix(prefix, 4);
        return true;
      } catch (const Error&) {
        return false;
      }
    }, 20s));
    return result.value_or(etcd::RangeResult{});
  };

  process::ChildProcess etcd = member("a", peer_a.port());
  const std::int64_t revision = fill("a");
  process::GrpcProxy proxy({endpoint}, dir.path() / "proxy", dir.path() / "proxy.log");
  const etcd::RangeResult old = list_through(proxy);  // its pages are now in the proxy's cache
  ASSERT_EQ(old.revision, revision);
  ASSERT_EQ(old.kvs.size(), 10u);

  etcd.stop(std::chrono::milliseconds(0));
  etcd = member("b", peer_b.port());
  ASSERT_EQ(fill("b"), revision);  // the same revision number, other contents
  const etcd::RangeResult fresh = list_through(proxy);
  ASSERT_EQ(fresh.revision, revision);
  EXPECT_NE(fresh.cluster_id, old.cluster_id);
  ASSERT_EQ(fresh.kvs.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(fresh.kvs[i].key, prefix + "b-" + std::to_string(i));
}

}  // namespace
}  // namespace frodo
