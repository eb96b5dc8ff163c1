// GuardCore (src/cluster/guard_core.hpp) fed views by hand: what the Cluster cannot easily be
// made to deliver in a unit test, such as a registry that was replaced (etcd restored from a
// backup: a new cluster id, revisions started over).
#include "cluster/guard_core.hpp"

#include <gtest/gtest.h>

#include "cluster/ring_members.hpp"

namespace frodo::detail {
namespace {

const std::string me = "127.0.0.1:7001";

Snapshot view(std::int64_t revision, std::uint64_t restarts, std::int64_t created, std::int64_t lease) {
  auto record = std::make_shared<ServerInfo>();
  record->address = me;
  record->meta = {{released_meta_key, "0"}, {epoch_meta_key, "0"}};
  record->created = created;
  record->lease = lease;
  Snapshot s;
  s.servers = ServerList({record});
  s.ring = Ring(ring_members(s.servers));
  s.revision = revision;
  s.restarts = restarts;
  return s;
}

GuardClock::time_point t0{};

// Before the fix the guard ignored every view whose revision was not above the last one it
// had taken in, so after a restore it stopped following etcd for good (and kept admitting
// from its old ring on the fast path).
TEST(GuardCore, AReplacedRegistryMakesItStartOverAndItsOldWorkStillHoldsTheRelease) {
  GuardCore core(me, std::chrono::seconds(30), [] {});
  core.observe(view(100, 0, 90, 7), t0);
  Admission old = core.admit("host-1", true, 7);
  ASSERT_TRUE(old) << old.reason();
  EXPECT_EQ(old.token(), 100);

  core.observe(view(3, 1, 2, 7), t0);  // etcd replaced: revision 3 in the new numbering
  EXPECT_EQ(core.revision(), 3);
  EXPECT_EQ(core.epoch(), 3);
  EXPECT_NE(core.take_warnings().size(), 0u);
  // The release of the new epoch waits for the work admitted before the restart.
  EXPECT_FALSE(core.due());
  old.done();
  std::optional<GuardCore::Publication> due = core.due();
  ASSERT_TRUE(due);
  EXPECT_EQ(due->released, 3);

  // A view from before the restart, arriving late, is ignored.
  core.observe(view(101, 0, 90, 7), t0);
  EXPECT_EQ(core.revision(), 3);
  Admission again = core.admit("host-1", true, 7);
  ASSERT_TRUE(again) << again.reason();
  EXPECT_EQ(again.token(), 3);
}

TEST(GuardCore, ItsOwnRecordOnAnotherLeaseMeansRejoining) {
  GuardCore core(me, std::chrono::seconds(30), [] {});
  core.observe(view(10, 0, 5, 7), t0);
  EXPECT_TRUE(core.admit("host-1", true, 7));
  Admission a = core.admit("host-1", true, 8);  // the lease was re-granted, the view is older
  EXPECT_FALSE(a);
  EXPECT_EQ(a.reason(), "rejoining");
  EXPECT_EQ(core.admit("host-1", false, 7).reason(), "lease expired");
}

}  // namespace
}  // namespace frodo::detail
