// The guard's lock-free admit under threads: admissions on two threads while the membership
// changes under them (a third server joins and leaves again and again) must never let two
// servers hold one id at once, and a Guard destroyed while an Admission is still alive must
// leave that Admission safe to end. Run under TSan and ASan by scripts/test.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "frodo/guard.hpp"
#include "guard_support.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using test::eventually;

constexpr int id_count = 64;

std::string id_of(int i) { return "host-" + std::to_string(i); }

// How many admissions of each id each server (1, 2) holds right now. Two threads of one
// server may hold one id at once (the guard orders servers, not a server's own threads).
struct Holders {
  std::array<std::array<std::atomic<int>, id_count>, 3> held{};
  std::atomic<int> overlaps{0};
  std::atomic<long> admitted{0};
};

void hammer(Guard& guard, int me, Holders& holders, const std::atomic<bool>& stop) {
  int i = me;
  while (!stop.load()) {
    i = (i + 7) % id_count;
    Admission a = guard.admit(id_of(i));
    if (!a) continue;
    auto k = static_cast<std::size_t>(i);
    holders.held[static_cast<std::size_t>(me)][k]++;
    if (holders.held[static_cast<std::size_t>(3 - me)][k].load() > 0) holders.overlaps++;
    holders.admitted++;
    std::this_thread::yield();  // work in flight while the membership may change
    holders.held[static_cast<std::size_t>(me)][k]--;
    a.done();
  }
}

TEST(GuardConcurrency, TwoServersAdmittingOnThreadsWhileMembershipChangesNeverOverlap) {
  auto registry = MemoryRegistry::create();
  Cluster ca(test::guard_test_options(), registry);
  Cluster cb(test::guard_test_options(), registry);
  Cluster cc(test::guard_test_options(), registry);
  Guard a(ca, "127.0.0.1:7001");
  Guard b(cb, "127.0.0.1:7002");
  ASSERT_TRUE(eventually([&] { return a.stats().settled && b.stats().settled; }));

  Holders holders;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] { hammer(a, 1, holders, stop); });
  threads.emplace_back([&] { hammer(a, 1, holders, stop); });
  threads.emplace_back([&] { hammer(b, 2, holders, stop); });
  // Churn: a third guarded server joins and leaves; each change moves ids between all three.
  for (int round = 0; round < 20; ++round) {
    {
      Guard c(cc, "127.0.0.1:7003");
      std::this_thread::sleep_for(2ms);
      c.leave(2s);
    }
    std::this_thread::sleep_for(2ms);
  }
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(holders.overlaps.load(), 0);
  EXPECT_GT(holders.admitted.load(), 0);
}

// A Guard destroyed with an Admission still alive: the Admission's done() must not touch
// freed memory (ASan would say so). The Guard logs it.
TEST(GuardConcurrency, AnAdmissionThatOutlivesItsGuardEndsSafely) {
  auto registry = MemoryRegistry::create();
  ClusterOptions o = test::guard_test_options();
  std::atomic<int> said{0};
  Cluster cluster(o, registry);
  Admission survivor;
  {
    GuardOptions g;
    g.logger = [&](const std::string& message) {
      if (message.find("still in flight") != std::string::npos) ++said;
    };
    Guard guard(cluster, "127.0.0.1:7001", g);
    ASSERT_TRUE(eventually([&] { return bool(survivor = guard.admit("host-1")); })) << survivor.reason();
    guard.leave(10ms);  // gives up waiting for the survivor
  }
  EXPECT_EQ(said.load(), 1);
  survivor.done();
  survivor.done();  // idempotent
}

}  // namespace
}  // namespace frodo
