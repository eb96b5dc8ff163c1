// The ownership guard's rules over the in-memory registry: one Cluster per simulated
// process, a simulated lease clock for frozen processes, no etcd.
#include "frodo/guard.hpp"
#include "guard_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <map>
#include <thread>

#include "frodo/error.hpp"
#include "registry/memory_registry_testing.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

ClusterOptions options() { return test::guard_test_options(); }
using test::eventually;
using test::id_owned_by;

bool settled(const Guard& guard) { return guard.stats().settled; }

TEST(Guard, LoneServerAdmitsEveryIdWithItsEpochAsToken) {
  auto registry = MemoryRegistry::create();
  Cluster cluster(options(), registry);
  Guard guard(cluster, "a:1");
  ASSERT_TRUE(eventually([&] { return settled(guard) && guard.stats().released == guard.stats().epoch; }));
  Admission a = guard.admit("host-1");
  ASSERT_EQ(a.verdict(), Verdict::admit) << a.reason();
  EXPECT_TRUE(a);
  EXPECT_EQ(a.token(), guard.stats().epoch);
  EXPECT_GT(a.token(), 0);
  EXPECT_EQ(a.owner(), "a:1");
  // The release is published in the server record, beside the ring's own fields.
  std::shared_ptr<const Snapshot> view = cluster.snapshot();
  const auto& servers = view->servers;
  ASSERT_EQ(servers.size(), 1u);
  EXPECT_EQ(servers[0].meta.at(released_meta_key), std::to_string(guard.stats().epoch));
}

TEST(Guard, RedirectsIdsOwnedByOthersWithItsRevision) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry), cb(options(), registry);
  Guard a(ca, "a:1"), b(cb, "b:1");
  ASSERT_TRUE(eventually([&] { return settled(a) && settled(b); }));
  std::string of_b = id_owned_by(ca, "b:1");
  Admission r = a.admit(of_b);
  EXPECT_EQ(r.verdict(), Verdict::redirect);
  EXPECT_FALSE(r);
  EXPECT_EQ(r.owner(), "b:1");
  EXPECT_EQ(r.revision(), ca.snapshot()->revision);
  EXPECT_EQ(r.token(), 0);
  Admission ok = b.admit(of_b);
  EXPECT_EQ(ok.verdict(), Verdict::admit) << ok.reason();
  EXPECT_EQ(a.stats().redirected, 1u);
}

TEST(Guard, GainedIdsWaitUntilTheLoserHasFinishedAndReleased) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry), cc(options(), registry);
  Guard a(ca, "a:1");
  ASSERT_TRUE(eventually([&] { return settled(a); }));
  std::string id;
  // A's work on many ids is in flight when C joins; pick one C gains.
  std::vector<Admission> held;
  for (int i = 0; i < 200; ++i) {
    held.push_back(a.admit("host-" + std::to_string(i)));
    ASSERT_TRUE(held.back()) << held.back().reason();
  }
  std::int64_t old_token = held.front().token();
  Guard c(cc, "c:1");
  ASSERT_TRUE(eventually([&] { return ca.snapshot()->ring.members().size() == 2 && cc.snapshot()->ring.members().size() == 2; }));
  int gained = -1;
  for (int i = 0; i < 200 && gained < 0; ++i) {
    if (cc.server_by_id("host-" + std::to_string(i)) == "c:1") gained = i;
  }
  ASSERT_GE(gained, 0);
  id = "host-" + std::to_string(gained);
  // A no longer admits it (it redirects to C) and C may not admit it yet.
  EXPECT_EQ(a.admit(id).verdict(), Verdict::redirect);
  Admission early = c.admit(id);
  EXPECT_EQ(early.verdict(), Verdict::wait);
  EXPECT_EQ(early.reason(), "handoff");
  // Ids A keeps are admitted at once, handoff or not.
  std::string kept = id_owned_by(ca, "a:1");
  EXPECT_TRUE(a.admit(kept)) << a.admit(kept).reason();
  // Still waiting while A's old work is in flight, even after a while.
  EXPECT_FALSE(eventually([&] { return static_cast<bool>(c.admit(id)); }, 50ms));
  held.clear();  // A finishes; it publishes its release and C takes over
  Admission late;
  ASSERT_TRUE(eventually([&] {
    late = c.admit(id);
    return static_cast<bool>(late);
  }));
  EXPECT_GT(late.token(), old_token);  // a write fenced by the newer token wins
  // C admitted only after A released its epoch: A's record in C's view says so. (A's own
  // stats() may still lag: A counts a release once the put that publishes it has returned,
  // and C can see the put before that.)
  std::int64_t a_released = -1;
  std::shared_ptr<const Snapshot> c_view = cc.snapshot();  // held while its servers are read
  for (const ServerInfo& server : c_view->servers) {
    if (server.address != "a:1") continue;
    auto it = server.meta.find(released_meta_key);
    if (it != server.meta.end()) a_released = std::stoll(it->second);
  }
  EXPECT_GE(a_released, late.token());
  EXPECT_TRUE(eventually([&] { return a.stats().released >= late.token(); }));
}

TEST(Guard, ACrashedLoserIsNotWaitedFor) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry), cb(options(), registry);
  Guard a(ca, "a:1"), b(cb, "b:1");  // sessions 1 and 2
  ASSERT_TRUE(eventually([&] { return settled(a) && settled(b); }));
  std::string of_a = id_owned_by(cb, "a:1");
  Admission stuck = a.admit(of_a);  // A freezes with this in flight...
  ASSERT_TRUE(stuck);
  test::end_lease(*registry, 1);  // ...and its lease expires: its record is gone
  Admission taken;
  ASSERT_TRUE(eventually([&] {
    taken = b.admit(of_a);
    return static_cast<bool>(taken);
  }));
  EXPECT_GT(taken.token(), stuck.token());
  // A, by its own clock, has no lease: it admits nothing, not even ids it thinks it owns.
  Admission after = a.admit(of_a);
  EXPECT_EQ(after.verdict(), Verdict::wait);
  EXPECT_EQ(after.reason(), "lease expired");
}

TEST(Guard, AFrozenServerPastItsLeaseDeadlineAdmitsNothing) {
  auto registry = MemoryRegistry::create();
  std::atomic<std::int64_t> now_ms{0};
  test::simulate_lease_clock(*registry, [&] { return Clock::time_point(std::chrono::milliseconds(now_ms.load())); }, 3000ms);
  Cluster ca(options(), registry), cb(options(), registry);
  Guard a(ca, "a:1"), b(cb, "b:1");
  ASSERT_TRUE(eventually([&] { return settled(a) && settled(b); }));
  std::string of_a = id_owned_by(ca, "a:1");
  EXPECT_TRUE(a.admit(of_a));
  // Both keep their leases alive until A freezes; 2.9 s later A still may admit...
  now_ms = 2900;
  EXPECT_TRUE(a.admit(of_a));
  test::keep_alive(*registry, 2);
  // ...but when it wakes after its deadline, before etcd has even expired its lease, it
  // refuses: another server may already be taking over.
  now_ms = 3100;
  Admission woke = a.admit(of_a);
  EXPECT_EQ(woke.verdict(), Verdict::wait);
  EXPECT_EQ(woke.reason(), "lease expired");
  EXPECT_TRUE(b.admit(id_owned_by(cb, "b:1")));
  // A renewed lease lets it admit again.
  test::keep_alive(*registry, 1);
  EXPECT_TRUE(a.admit(of_a));
}

// A thread paused inside admit() after it read its lease (frozen, preempted, waiting for the
// guard's lock or the caller's logger) for longer than the lease had left must not come back
// with an admission: the lease is checked again, last, once the admission is counted.
// `frodo demo --no-fencing` showed the hole: requests a server read from its sockets right
// after a thaw past its TTL were admitted under its old epoch while another server held
// those hosts. Here the pause hits the slow path (a server waiting for a peer's release reads
// its lease before it takes the guard's lock).
TEST(Guard, AThreadPausedInsideAdmitPastItsLeaseAdmitsNothing) {
  auto registry = MemoryRegistry::create();
  std::atomic<std::int64_t> now_ms{0};
  std::atomic<bool> pause_after_next_read{false};
  std::thread::id admitting = std::this_thread::get_id();
  // The lease clock as this test's thread sees it: when armed, its next read returns the
  // present, then the thread "sleeps" 10 s (the clock jumps past the 3 s TTL).
  test::simulate_lease_clock(*registry, 
      [&] {
        std::int64_t t = now_ms.load();
        if (std::this_thread::get_id() == admitting && pause_after_next_read.exchange(false)) now_ms = t + 10'000;
        return Clock::time_point(std::chrono::milliseconds(t));
      },
      3000ms);
  GuardOptions patient;
  patient.release_timeout = std::chrono::hours(1);
  Cluster ca(options(), registry), cb(options(), registry), cc(options(), registry);
  Guard a(ca, "a:1", patient), b(cb, "b:1", patient);
  ASSERT_TRUE(eventually([&] { return settled(a) && settled(b); }));
  // B sees nothing from here: it never releases the next epoch, so A stays unsettled and
  // admits the ids it keeps on its slow path.
  test::hold_views(*registry, 2);
  std::vector<std::string> before;
  for (int i = 0; before.size() < 64; ++i) {
    std::string id = "host-" + std::to_string(i);
    if (ca.server_by_id(id) == "a:1") before.push_back(id);
  }
  std::int64_t revision = ca.snapshot()->revision;
  cc.add_server("c:1");
  ASSERT_TRUE(eventually([&] { return ca.snapshot()->revision > revision && !settled(a); }));
  std::string kept;
  for (const std::string& id : before) {
    if (ca.server_by_id(id) == "a:1") kept = id;
  }
  ASSERT_FALSE(kept.empty());
  ASSERT_TRUE(a.admit(kept)) << "A keeps admitting what it still owns while unsettled";
  std::uint64_t admitted = a.stats().admitted;

  pause_after_next_read = true;
  Admission paused = a.admit(kept);
  EXPECT_FALSE(pause_after_next_read.load()) << "admit() never read the lease";
  EXPECT_EQ(paused.verdict(), Verdict::wait);
  EXPECT_EQ(paused.reason(), "lease expired");
  EXPECT_EQ(paused.token(), 0);
  EXPECT_EQ(a.stats().admitted, admitted) << "an admission taken back is not counted as one";
  // Renewed, A admits again; it was taken out of the in-flight count, so nothing waits on it.
  test::keep_alive(*registry, 1);
  EXPECT_TRUE(a.admit(kept));
  test::keep_alive(*registry, 2);
  test::keep_alive(*registry, 3);
  test::release_views(*registry, 2);
}

TEST(Guard, AServerBehindTheClientCatchesUpFirst) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry);
  Guard a(ca, "a:1", {.catch_up = 20ms});
  ASSERT_TRUE(eventually([&] { return settled(a); }));
  std::int64_t now = ca.snapshot()->revision;
  Admission ahead = a.admit("x", now + 100);  // the client has seen a view this server has not
  EXPECT_EQ(ahead.verdict(), Verdict::wait);
  EXPECT_EQ(ahead.reason(), "behind client");
  EXPECT_TRUE(a.admit("x", now));
  EXPECT_TRUE(a.admit("x", 1));  // a client behind the server is answered from the newer view
}

TEST(Guard, AStaleClientIsRedirectedToTheNewOwner) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry), cb(options(), registry), client(options(), registry);
  Guard a(ca, "a:1");
  ASSERT_TRUE(eventually([&] { return settled(a); }));
  std::int64_t stale = client.snapshot()->revision;
  Guard b(cb, "b:1");
  ASSERT_TRUE(eventually([&] { return settled(a) && settled(b); }));
  std::string moved = id_owned_by(cb, "b:1");
  Admission r = a.admit(moved, stale);
  ASSERT_EQ(r.verdict(), Verdict::redirect);
  EXPECT_EQ(r.owner(), "b:1");
  EXPECT_GT(r.revision(), stale);
  ASSERT_TRUE(client.wait_revision(r.revision(), 1s));
  EXPECT_EQ(client.server_by_id(moved), "b:1");
}

TEST(Guard, LeaveDrainsThenHandsOverAndRemovesTheServer) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry), cb(options(), registry);
  Guard a(ca, "a:1"), b(cb, "b:1");
  ASSERT_TRUE(eventually([&] { return settled(a) && settled(b); }));
  std::string of_a = id_owned_by(cb, "a:1");
  Admission in_flight = a.admit(of_a);
  ASSERT_TRUE(in_flight);
  std::atomic<bool> left{false};
  std::thread leaving([&] {
    a.leave(5s);
    left = true;
  });
  // A is out of the ring at once: clients now look up B...
  ASSERT_TRUE(eventually([&] { return cb.server_by_id(of_a) == "b:1"; }));
  EXPECT_EQ(a.admit(of_a).reason(), "leaving");
  // ...but B waits for A's work in flight.
  EXPECT_FALSE(eventually([&] { return static_cast<bool>(b.admit(of_a)); }, 50ms));
  EXPECT_FALSE(left);
  std::int64_t old_token = in_flight.token();
  in_flight.done();
  Admission taken;
  ASSERT_TRUE(eventually([&] {
    taken = b.admit(of_a);
    return static_cast<bool>(taken);
  }));
  EXPECT_GT(taken.token(), old_token);
  leaving.join();
  EXPECT_TRUE(left);
  ASSERT_TRUE(eventually([&] { return cb.snapshot()->servers.size() == 1; }));
  EXPECT_EQ(cb.snapshot()->servers[0].address, "b:1");
}

TEST(Guard, ServersWithoutAGuardAreNotWaitedFor) {
  auto registry = MemoryRegistry::create();
  Cluster plain(options(), registry), ca(options(), registry);
  plain.add_server("p:1");
  Guard a(ca, "a:1");
  ASSERT_TRUE(eventually([&] { return settled(a); }));
  EXPECT_TRUE(a.admit(id_owned_by(ca, "a:1")));
  Admission r = a.admit(id_owned_by(ca, "p:1"));
  EXPECT_EQ(r.verdict(), Verdict::redirect);
  EXPECT_EQ(r.owner(), "p:1");
}

TEST(Guard, TokensGrowAlongEveryHandoff) {
  auto registry = MemoryRegistry::create();
  Cluster c1(options(), registry), c2(options(), registry), c3(options(), registry);
  std::vector<std::unique_ptr<Guard>> guards;
  guards.push_back(std::make_unique<Guard>(c1, "s1:1"));
  ASSERT_TRUE(eventually([&] { return settled(*guards.front()); }));
  // Per id: the server that last admitted it, and under which token. An id that moved to
  // another server must carry a strictly greater token (an equal one would let the store
  // accept the old owner's late write); an id that stayed may keep its token.
  struct Last {
    std::string owner;
    std::int64_t token = 0;
  };
  std::map<std::string, Last> last;
  int moves = 0;
  for (int step = 0; step < 4; ++step) {
    for (int i = 0; i < 40; ++i) {
      const std::string id = "host-" + std::to_string(i);
      Admission got;
      ASSERT_TRUE(eventually([&] {
        for (auto& g : guards) {
          got = g->admit(id);
          if (got) return true;
        }
        return false;
      })) << id << " at step " << step;
      Last& before = last[id];
      if (!before.owner.empty() && got.owner() != before.owner) {
        ++moves;
        EXPECT_GT(got.token(), before.token) << id << " moved from " << before.owner << " to " << got.owner();
      } else {
        EXPECT_GE(got.token(), before.token) << id << " stayed on " << got.owner();
      }
      before = {got.owner(), got.token()};
    }
    if (step == 0) guards.push_back(std::make_unique<Guard>(c2, "s2:1"));
    if (step == 1) guards.push_back(std::make_unique<Guard>(c3, "s3:1"));
    if (step == 2) guards.front()->leave(5s);
  }
  // s1 left before the last round, so at least its ids moved: the strict check did run.
  EXPECT_GT(moves, 0);
}

TEST(Guard, RejectsBadArguments) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry);
  EXPECT_THROW(Guard(ca, "no-port"), Error);
  EXPECT_THROW(Guard(ca, "a:1", {.server = {.persistent = true}}), Error);
  EXPECT_THROW(Guard(ca, "a:1", {.server = {.meta = {{released_meta_key, "9"}}}}), Error);
  EXPECT_TRUE(ca.snapshot()->servers.empty());
}

}  // namespace
}  // namespace frodo
