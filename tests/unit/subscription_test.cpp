// Callbacks registered with a Cluster: both kinds add (neither replaces), and a Subscription
// unregisters, waiting for a call in progress but not for itself.
#include "frodo/subscription.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"
#include "registry/memory_registry_testing.hpp"
#include "guard_support.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using test::eventually;

ClusterOptions options() { return test::guard_test_options(); }

TEST(Subscription, BothKindsOfCallbackAddAndEachUnregistersAlone) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry);
  std::atomic<int> changes1{0}, changes2{0}, lost1{0}, lost2{0};
  Subscription c1 = a.on_change([&](const Snapshot&, const Snapshot&) { ++changes1; });
  Subscription c2 = a.on_change([&](const Snapshot&, const Snapshot&) { ++changes2; });
  Subscription l1 = a.on_lease_lost([&](LeaseLossReason) { ++lost1; });
  Subscription l2 = a.on_lease_lost([&](LeaseLossReason) { ++lost2; });
  a.add_server("127.0.0.1:1");
  EXPECT_EQ(changes1, 1);
  EXPECT_EQ(changes2, 1);
  test::end_lease(*registry, 1);
  ASSERT_TRUE(eventually([&] { return lost1 == 1 && lost2 == 1; }));  // the second did not replace the first
  const int seen = changes1;
  EXPECT_EQ(changes2.load(), seen);
  c1.reset();
  l2.reset();
  EXPECT_FALSE(c1);
  EXPECT_TRUE(c2);
  a.add_server("127.0.0.2:1", {.persistent = true});
  EXPECT_EQ(changes1, seen);
  EXPECT_EQ(changes2, seen + 1);
  test::regrant(*registry, 1);
  test::end_lease(*registry, 1, LeaseLossReason::revoked);
  ASSERT_TRUE(eventually([&] { return lost1 == 2; }));
  EXPECT_EQ(lost2, 1);
}

TEST(Subscription, ResetWaitsForACallInProgressOnAnotherThread) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry);
  std::mutex m;
  std::condition_variable cv;
  bool entered = false, release = false, finished = false;
  Subscription s = a.on_change([&](const Snapshot&, const Snapshot&) {
    std::unique_lock lock(m);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    finished = true;
  });
  // The change is delivered on the writer's thread here (a memory registry calls back at once).
  auto writer = std::async(std::launch::async, [&] { a.add_server("127.0.0.1:1"); });
  {
    std::unique_lock lock(m);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return entered; }));
  }
  std::atomic<bool> reset_done{false};
  std::thread resetter([&] {
    s.reset();
    reset_done = true;
  });
  // reset() cannot return while the callback runs.
  EXPECT_FALSE(eventually([&] { return reset_done.load(); }, 100ms));
  {
    std::lock_guard lock(m);
    release = true;
  }
  cv.notify_all();
  resetter.join();
  {
    std::lock_guard lock(m);
    EXPECT_TRUE(finished);  // it had returned when reset() did
  }
  writer.get();
}

TEST(Subscription, ResetFromInsideItsOwnCallbackStopsLaterCalls) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry);
  int calls = 0;
  Subscription s;
  s = a.on_change([&](const Snapshot&, const Snapshot&) {
    ++calls;
    s.reset();  // must not wait for itself
  });
  a.add_server("127.0.0.1:1");
  a.add_server("127.0.0.2:1");
  EXPECT_EQ(calls, 1);
}

TEST(Subscription, OutlivesItsCluster) {
  Subscription s;
  {
    auto registry = MemoryRegistry::create();
    Cluster a(options(), registry);
    s = a.on_change([](const Snapshot&, const Snapshot&) {});
  }
  s.reset();  // nothing to unregister from any more
  EXPECT_FALSE(s);
}

TEST(Subscription, AGuardWithoutALoggerWarnsThroughTheClustersLogger) {
  auto registry = MemoryRegistry::create();
  std::mutex m;
  std::vector<std::string> logged;
  ClusterOptions o = options();
  o.logger = [&](const std::string& message) {
    std::lock_guard lock(m);
    logged.push_back(message);
  };
  Cluster peer(options(), registry), a(o, registry);
  // A record that claims to be a guard's and never releases: given up on, with a warning.
  peer.add_server("127.0.0.9:1", {.meta = {{released_meta_key, "0"}, {"frodo.epoch", "0"}}});
  Guard g(a, "127.0.0.1:1", {.release_timeout = 50ms});  // no logger of its own
  auto warned = [&] {
    std::lock_guard lock(m);
    for (const std::string& line : logged) {
      if (line.rfind("guard 127.0.0.1:1: guarded server 127.0.0.9:1 has not released", 0) == 0) return true;
    }
    return false;
  };
  EXPECT_TRUE(eventually([&] {
    (void)g.admit("host-1");  // the guard re-checks its peers when asked
    return warned();
  }));
}

}  // namespace
}  // namespace frodo
