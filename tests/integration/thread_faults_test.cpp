// What escapes a callback must not escape a thread: the watcher and the lease keeper report
// it, lose nothing and go on.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"
#include "process/wait_until.hpp"

namespace frodo::etcd {
namespace {

using namespace std::chrono_literals;
using process::wait_until;

std::shared_ptr<Connection> connect(const test::EtcdCluster& etcd) {
  EtcdOptions options;
  options.endpoints = etcd.endpoints();
  options.call_timeout = 3000ms;
  return std::make_shared<Connection>(options);
}

// on_events throws on its first delivery: those events come again, then every later one,
// each once and in order.
TEST(ThreadFaults, AWatchCallbackThatThrowsLosesNoEvent) {
  test::EtcdCluster etcd;
  auto connection = connect(etcd);
  Kv kv(connection);
  std::int64_t start = kv.put("/t/start", "0") + 1;
  std::mutex mutex;
  std::vector<std::string> keys;
  std::vector<std::string> errors;
  std::atomic<int> calls{0};
  Watcher watcher(connection, "/t/", start,
                  {[&](const std::vector<WatchEvent>& events, std::int64_t) {
                     if (calls++ == 0) throw std::runtime_error("first delivery fails");
                     std::lock_guard lock(mutex);
                     for (const auto& e : events) keys.push_back(e.kv.key);
                   },
                   {}, [](std::int64_t) {},
                   [&](const Error& e) {
                     std::lock_guard lock(mutex);
                     errors.push_back(e.what());
                   }});
  for (int i = 0; i < 20; ++i) kv.put("/t/" + std::to_string(100 + i), "v");
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard lock(mutex);
        return keys.size() >= 20;
      },
      20s));
  std::lock_guard lock(mutex);
  ASSERT_EQ(keys.size(), 20u);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(keys[i], "/t/" + std::to_string(100 + i));
  ASSERT_FALSE(errors.empty());
  EXPECT_NE(errors.front().find("first delivery fails"), std::string::npos) << errors.front();
}

// The lost and granted callbacks throw: the keeper reports both and holds the new lease.
TEST(ThreadFaults, ALeaseCallbackThatThrowsDoesNotStopTheKeeper) {
  test::EtcdCluster etcd;
  auto connection = connect(etcd);
  std::mutex mutex;
  std::vector<std::string> warnings;
  std::atomic<int> lost{0}, granted{0};
  LeaseKeeper keeper(
      connection, {.ttl = 5s, .regrant = true},
      [&](std::int64_t, LeaseLoss) {
        ++lost;
        throw std::runtime_error("lost callback fails");
      },
      [&](std::int64_t) {
        ++granted;
        throw std::runtime_error("granted callback fails");
      },
      [&](const std::string& m) {
        std::lock_guard lock(mutex);
        warnings.push_back(m);
      });
  std::int64_t first = keeper.id();
  Kv(connection).revoke_lease(first);
  ASSERT_TRUE(wait_until([&] { return granted.load() == 1 && keeper.id() != 0; }, 20s));
  EXPECT_EQ(lost.load(), 1);
  EXPECT_NE(keeper.id(), first);
  EXPECT_TRUE(wait_until([&] { return keeper.alive(); }, 5s));
  std::lock_guard lock(mutex);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("lost callback fails"), std::string::npos);
  EXPECT_NE(warnings[1].find("granted callback fails"), std::string::npos);
}

}  // namespace
}  // namespace frodo::etcd
