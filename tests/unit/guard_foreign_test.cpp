// The ownership guard against records it did not write (issue 10, defect 2): any etcd writer
// can put a server record that carries the guard's meta keys. Such a record must not make a
// guard write without end, must not grow its history without bound, and must not hold a
// handoff for ever. Over the in-memory registry, one Cluster per simulated process.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "frodo/error.hpp"
#include "frodo/guard.hpp"
#include "guard_support.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* epoch_key = "frodo.epoch";  // the guard's epoch meta key (docs/etcd-schema.md)
const std::string foreign = "127.0.0.9:1";

ClusterOptions options() { return test::guard_test_options(); }
using test::eventually;
using test::id_owned_by;


// A guard's warnings, kept for the test to read.
class Log {
 public:
  std::function<void(const std::string&)> sink() {
    return [this](const std::string& message) {
      std::lock_guard lock(mutex_);
      messages_.push_back(message);
    };
  }
  std::size_t count(const std::string& part) const {
    std::lock_guard lock(mutex_);
    return std::count_if(messages_.begin(), messages_.end(),
                         [&](const std::string& m) { return m.find(part) != std::string::npos; });
  }
  std::string all() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& m : messages_) out += m + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> messages_;
};

// The record: released 1, epoch far above any revision, persistent. Before the fix a
// guard answered that epoch with a release, saw its own write raise the revision, answered
// again, and so on without end; and it waited for the record's release for ever.
TEST(GuardForeign, AnEpochAboveTheRevisionIsIgnoredWithOneWarningAndCausesNoWriteStorm) {
  auto registry = MemoryRegistry::create();
  Cluster cf(options(), registry), ca(options(), registry), cb(options(), registry);
  cf.add_server(foreign, {.meta = {{released_meta_key, "1"}, {epoch_key, "999999999"}}, .persistent = true});
  Log log_a;
  Guard a(ca, "a:1", {.logger = log_a.sink()});
  // A publishes its first release, then stays quiet: over a bounded stretch the registry's
  // revision does not climb by more than a handful (before the fix: by hundreds).
  ASSERT_TRUE(eventually([&] { return a.stats().releases >= 1; }));
  std::int64_t quiet_from = registry->revision();
  EXPECT_FALSE(eventually([&] { return registry->revision() > quiet_from + 10; }, 300ms))
      << "revision climbed from " << quiet_from << " to " << registry->revision();
  EXPECT_LE(a.stats().releases, 2u);
  // The record is no guard's: A does not wait for it.
  ASSERT_TRUE(eventually([&] { return a.stats().settled; }));
  std::string mine = id_owned_by(ca, "a:1");
  EXPECT_TRUE(a.admit(mine)) << a.admit(mine).reason();

  // A real guarded server joins and gains some of A's ids: it admits them once A, the only
  // real guarded peer, has released; the foreign record is not waited for.
  std::vector<Admission> held;
  for (int i = 0; i < 100; ++i) {
    held.push_back(a.admit("host-" + std::to_string(i)));
  }
  Log log_b;
  Guard b(cb, "b:1", {.logger = log_b.sink()});
  ASSERT_TRUE(eventually([&] { return ca.snapshot()->ring.members().size() == 3 && cb.snapshot()->ring.members().size() == 3; }));
  std::string gained;
  for (int i = 0; i < 100 && gained.empty(); ++i) {
    std::string id = "host-" + std::to_string(i);
    if (held[i] && cb.server_by_id(id) == "b:1") gained = id;
  }
  ASSERT_FALSE(gained.empty());
  EXPECT_EQ(b.admit(gained).reason(), "handoff");  // A's work on it is still in flight
  std::int64_t old_token = held.front().token();
  held.clear();
  Admission taken;
  ASSERT_TRUE(eventually([&] {
    taken = b.admit(gained);
    return static_cast<bool>(taken);
  })) << taken.reason();
  EXPECT_GT(taken.token(), old_token);
  EXPECT_GE(a.stats().released, taken.token());
  EXPECT_TRUE(b.stats().settled);

  // Both stay quiet now: each epoch is answered once.
  std::int64_t settled_at = registry->revision();
  EXPECT_FALSE(eventually([&] { return registry->revision() > settled_at + 10; }, 300ms))
      << "revision climbed from " << settled_at << " to " << registry->revision();
  EXPECT_LE(a.stats().releases, 4u);
  EXPECT_LE(b.stats().releases, 3u);
  // One warning each, naming the record, however many views it appeared in (a warning is
  // logged by whichever thread took in the view, hence the bounded wait for it).
  EXPECT_TRUE(eventually([&] { return log_a.count(foreign) >= 1 && log_b.count(foreign) >= 1; }));
  EXPECT_EQ(log_a.count(foreign), 1u) << log_a.all();
  EXPECT_EQ(log_b.count(foreign), 1u) << log_b.all();
}

// A peer's released value can no more be at or above the revision of the view it appears in
// than its epoch: such a record is not waited for either, and not answered.
TEST(GuardForeign, AReleasedValueAboveTheRevisionIsNotAGuards) {
  auto registry = MemoryRegistry::create();
  Cluster cf(options(), registry), ca(options(), registry);
  cf.add_server(foreign, {.meta = {{released_meta_key, "999999999"}, {epoch_key, "999999999"}}});
  Log log;
  Guard a(ca, "a:1", {.logger = log.sink()});
  ASSERT_TRUE(eventually([&] { return a.stats().settled && a.stats().released == a.stats().epoch; }));
  std::int64_t quiet_from = registry->revision();
  EXPECT_FALSE(eventually([&] { return registry->revision() > quiet_from + 10; }, 300ms));
  EXPECT_TRUE(eventually([&] { return log.count(foreign) >= 1; }));
  EXPECT_EQ(log.count(foreign), 1u) << log.all();
}

// Many epochs while a peer does not release: the rings a guard keeps (and walks on admit)
// stay bounded, and the guard still settles when the peer goes.
TEST(GuardForeign, TheUnsettledHistoryIsBounded) {
  auto registry = MemoryRegistry::create();
  Cluster cp(options(), registry), ca(options(), registry), churn(options(), registry);
  Guard a(ca, "a:1", {.release_timeout = std::chrono::hours(1)});
  ASSERT_TRUE(eventually([&] { return a.stats().settled; }));
  // Joins, claims to be guarded, on a live lease, and never releases; A waits for it (for an
  // hour), keeping the rings since its last settled epoch.
  ASSERT_TRUE(ca.wait_revision(cp.add_server(foreign, {.meta = {{released_meta_key, "0"}, {epoch_key, "0"}}}), 5s));
  EXPECT_FALSE(a.stats().settled);
  EXPECT_EQ(a.stats().unsettled, 2u);
  std::size_t most = 0;
  for (int i = 0; i < 3 * static_cast<int>(max_unsettled_rings); ++i) {
    std::string plain = "p" + std::to_string(i) + ":1";
    churn.add_server(plain);  // each add and remove changes the ring: a new epoch
    churn.remove_server(plain);
    ASSERT_TRUE(ca.wait_revision(registry->revision(), 5s));
    GuardStats stats = a.stats();
    most = std::max(most, stats.unsettled);
    ASSERT_FALSE(stats.settled);
  }
  EXPECT_LE(most, max_unsettled_rings);
  EXPECT_EQ(most, max_unsettled_rings);  // it did keep a history, up to the bound
  // Past the bound the chain is gone: every id waits for settlement (never unsafe).
  std::string mine = id_owned_by(ca, "a:1");
  EXPECT_EQ(a.admit(mine).reason(), "handoff");
  cp.remove_server(foreign);
  ASSERT_TRUE(eventually([&] { return a.stats().settled; }));
  EXPECT_EQ(a.stats().unsettled, 1u);
  EXPECT_TRUE(a.admit(mine)) << a.admit(mine).reason();
}

// A record that claims to be guarded (released 0), on a lease that stays alive, and never
// releases: after release_timeout it is no longer waited for, with a warning naming it, and
// not waited for again at the next epoch while it still has not released.
TEST(GuardForeign, APeerThatNeverReleasesIsGivenUpOnAfterTheReleaseTimeout) {
  auto registry = MemoryRegistry::create();
  Cluster cp(options(), registry), ca(options(), registry), churn(options(), registry);
  cp.add_server(foreign, {.meta = {{released_meta_key, "0"}, {epoch_key, "0"}}});
  Log log;
  const auto timeout = 300ms;
  Clock::time_point start = Clock::now();
  Guard a(ca, "a:1", {.release_timeout = timeout, .logger = log.sink()});
  std::string mine = id_owned_by(ca, "a:1");
  Admission first;
  ASSERT_TRUE(eventually([&] {
    first = a.admit(mine);
    return static_cast<bool>(first);
  }, 10s)) << first.reason();
  // Not before the bound (the guard started waiting after `start`).
  EXPECT_GE(Clock::now() - start, timeout);
  EXPECT_GT(first.token(), 0);
  EXPECT_TRUE(a.stats().settled);
  EXPECT_TRUE(eventually([&] { return log.count(foreign) >= 1; }));
  EXPECT_EQ(log.count(foreign), 1u) << log.all();
  EXPECT_EQ(log.count("not released epoch"), 1u) << log.all();
  first.done();

  // A new epoch: the peer still has not released, and it is not waited for again.
  std::int64_t joined = churn.add_server("p:1");
  ASSERT_TRUE(ca.wait_revision(joined, 5s));
  std::string still_mine = id_owned_by(ca, "a:1");
  Admission next = a.admit(still_mine);
  EXPECT_TRUE(next) << next.reason();
  EXPECT_GE(next.token(), joined);
  EXPECT_EQ(log.count(foreign), 1u) << log.all();
}

// A peer given up on that releases after all is a guard again: at the next epoch it is waited
// for afresh, for release_timeout again.
TEST(GuardForeign, AGivenUpPeerThatReleasesIsWaitedForAgain) {
  auto registry = MemoryRegistry::create();
  Cluster cp(options(), registry), ca(options(), registry), churn(options(), registry);
  churn.add_server("p:1");
  cp.add_server(foreign, {.meta = {{released_meta_key, "0"}, {epoch_key, "0"}}});
  Log log;
  const auto timeout = 200ms;
  Guard a(ca, "a:1", {.release_timeout = timeout, .logger = log.sink()});
  std::string mine = id_owned_by(ca, "a:1");
  ASSERT_TRUE(eventually([&] { return static_cast<bool>(a.admit(mine)); }, 10s));
  ASSERT_TRUE(eventually([&] { return log.count("not released epoch") == 1; }));
  // The peer releases the epoch it was waited for.
  std::string awaited = std::to_string(a.stats().epoch);
  ASSERT_TRUE(ca.wait_revision(cp.add_server(foreign, {.meta = {{released_meta_key, awaited}, {epoch_key, awaited}}}), 5s));
  EXPECT_TRUE(eventually([&] { return log.count("waiting for its release again") == 1; })) << log.all();
  // p leaves: A gains p's ids at a new epoch the peer has not released, and waits for it again.
  std::string of_p = id_owned_by(ca, "p:1");
  Clock::time_point left = Clock::now();
  ASSERT_TRUE(churn.remove_server("p:1"));
  ASSERT_TRUE(eventually([&] { return static_cast<bool>(a.admit(of_p)); }, 10s));
  EXPECT_GE(Clock::now() - left, timeout);
  EXPECT_TRUE(eventually([&] { return log.count("not released epoch") == 2; })) << log.all();
}

// The default bound follows the lease: a peer is waited for far longer than a test runs.
TEST(GuardForeign, ByDefaultANonReleasingPeerIsWaitedForSeveralLeaseTtls) {
  auto registry = MemoryRegistry::create();
  Cluster cp(options(), registry), ca(options(), registry);
  cp.add_server(foreign, {.meta = {{released_meta_key, "0"}, {epoch_key, "0"}}});
  Guard a(ca, "a:1");
  ASSERT_TRUE(eventually([&] { return a.stats().released > 0; }));
  EXPECT_FALSE(eventually([&] { return static_cast<bool>(a.admit(id_owned_by(ca, "a:1"))); }, 200ms));
  EXPECT_FALSE(a.stats().settled);
}

TEST(GuardForeign, RejectsAReleaseTimeoutThatIsNotPositive) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry);
  EXPECT_THROW(Guard(ca, "a:1", {.release_timeout = 0ms}), Error);
  EXPECT_THROW(Guard(ca, "a:1", {.release_timeout = -1ms}), Error);
  EXPECT_TRUE(ca.snapshot()->servers.empty());
}

}  // namespace
}  // namespace frodo
