// A Cluster through etcd's gRPC proxy (`etcd grpc-proxy start`) works exactly as it does
// directly: listing, watching, resuming, resyncing after a compaction, keeping its lease,
// and failing over when a proxy dies. docs/proxy.md says how to deploy one.
#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "etcd/kv.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"
#include "process/grpc_proxy.hpp"
#include "process/wait_until.hpp"
#include "temp_dir.hpp"

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

std::shared_ptr<etcd::Connection> connect(const std::vector<std::string>& endpoints) {
  return std::make_shared<etcd::Connection>(EtcdOptions{.endpoints = endpoints, .call_timeout = 3000ms});
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

}  // namespace
}  // namespace frodo
