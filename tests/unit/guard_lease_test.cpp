// The ownership guard across a lease loss and re-grant (issue 10, defect 1). When a guarded
// server's lease ends, its record is deleted and another server takes its ids over; the
// session then grants a new lease and registers the record again. One watch response (or
// re-list) can carry the delete and the re-add together, so the server may never see itself
// gone: its ring looks the same as before. It must still not admit an id the other server
// took over while that server is working on it. Over the in-memory registry, which can
// re-grant and can hold a process's views back and deliver only the newest (a collapsed view).
#include <gtest/gtest.h>

#include "frodo/guard.hpp"
#include "registry/memory_registry_testing.hpp"
#include "guard_support.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using test::eventually;
using test::id_owned_by;

const std::string a_address = "127.0.0.1:7001";
const std::string b_address = "127.0.0.1:7002";

const ServerInfo* record_of(const Snapshot& s, const std::string& address) {
  for (const ServerInfo& server : s.servers) {
    if (server.address == address) return &server;
  }
  return nullptr;
}

TEST(MemoryRegistryLease, RegrantRegistersTheServersAgainAsNewRecordsOnANewLease) {
  auto registry = MemoryRegistry::create();
  Cluster a(test::guard_test_options(), registry);  // session 1
  Cluster b(test::guard_test_options(), registry);  // session 2
  a.add_server(a_address);
  std::int64_t first_lease = a.lease_id();
  ASSERT_NE(first_lease, 0);
  std::shared_ptr<const Snapshot> before = b.snapshot();
  const ServerInfo* old_record = record_of(*before, a_address);
  ASSERT_NE(old_record, nullptr);
  EXPECT_EQ(old_record->lease, first_lease);
  EXPECT_GT(old_record->created, 0);

  test::end_lease(*registry, 1);
  EXPECT_EQ(a.lease_id(), 0);
  EXPECT_FALSE(a.lease_alive());
  EXPECT_EQ(record_of(*b.snapshot(), a_address), nullptr);

  test::regrant(*registry, 1);
  EXPECT_TRUE(a.lease_alive());
  EXPECT_NE(a.lease_id(), 0);
  EXPECT_NE(a.lease_id(), first_lease);
  std::shared_ptr<const Snapshot> after = b.snapshot();
  const ServerInfo* new_record = record_of(*after, a_address);
  ASSERT_NE(new_record, nullptr);
  EXPECT_EQ(new_record->lease, a.lease_id());
  EXPECT_GT(new_record->created, old_record->created);
  EXPECT_EQ(new_record->address, old_record->address);
  EXPECT_EQ(new_record->meta, old_record->meta);

  // A put to a key that exists keeps its create revision, as in etcd.
  a.add_server(a_address, {.meta = {{"k", "v"}}});
  EXPECT_EQ(record_of(*b.snapshot(), a_address)->created, new_record->created);
}

TEST(MemoryRegistryLease, HeldViewsAreDeliveredAsOneCollapsedView) {
  auto registry = MemoryRegistry::create();
  Cluster a(test::guard_test_options(), registry);  // session 1
  Cluster b(test::guard_test_options(), registry);  // session 2
  int a_changes = 0;
  frodo::Subscription counting = a.on_change([&](const Snapshot&, const Snapshot&) { ++a_changes; });
  std::int64_t before = a.snapshot()->revision;
  test::hold_views(*registry, 1);
  b.add_server(a_address, {.persistent = true});
  b.remove_server(a_address);
  b.add_server(b_address);
  EXPECT_EQ(a.snapshot()->revision, before);  // nothing delivered while held
  EXPECT_EQ(a_changes, 0);
  test::release_views(*registry, 1);
  std::shared_ptr<const Snapshot> seen = a.snapshot();
  EXPECT_EQ(seen->revision, registry->revision());
  ASSERT_EQ(seen->servers.size(), 1u);
  EXPECT_EQ(seen->servers[0].address, b_address);
  EXPECT_EQ(a_changes, 1);  // three changes, one view
}

// The defect: A loses its lease while its views are held back; B takes A's id over and
// starts working on it; A's lease is re-granted and its record comes back. A's next view shows
// the same ring as before the loss. Before the fix A was still "settled" and admitted the id
// under its old epoch while B's admission was in flight.
TEST(GuardLease, AServerWhoseRecordCameBackDoesNotAdmitWhatAnotherTookOverMeanwhile) {
  auto registry = MemoryRegistry::create();
  Cluster ca(test::guard_test_options(), registry);  // session 1
  Cluster cb(test::guard_test_options(), registry);  // session 2
  Guard a(ca, a_address);
  Guard b(cb, b_address);
  ASSERT_TRUE(eventually([&] { return a.stats().settled && b.stats().settled; }));
  std::string id = id_owned_by(ca, a_address);
  {
    Admission first = a.admit(id);
    ASSERT_TRUE(first) << first.reason();
  }

  test::hold_views(*registry, 1);  // A sees nothing from here until release_views
  test::end_lease(*registry, 1);   // A "froze" past its TTL: etcd deleted its record
  EXPECT_EQ(a.admit(id).reason(), "lease expired");

  // B gains the id: A's record is gone, so nobody is waited for.
  ASSERT_EQ(cb.server_by_id(id), b_address);
  Admission taken;
  ASSERT_TRUE(eventually([&] { return bool(taken = b.admit(id)); })) << taken.reason();

  test::regrant(*registry, 1);  // A's session re-registers its record on a new lease
  EXPECT_EQ(cb.server_by_id(id), a_address);
  // A's lease is alive, but its view still shows the record on the old lease.
  EXPECT_EQ(a.admit(id).reason(), "rejoining");

  test::release_views(*registry, 1);  // one view: the delete and the re-add never shown apart
  EXPECT_EQ(ca.server_by_id(id), a_address);
  Admission early = a.admit(id);
  EXPECT_FALSE(early) << "admitted " << id << " with token " << early.token() << " while " << b_address
                      << " holds it with token " << taken.token();
  EXPECT_EQ(early.reason(), "handoff");

  // Once B finishes, it releases the epoch of A's return, and A admits the id again, with a
  // token above B's.
  std::int64_t b_token = taken.token();
  taken.done();
  Admission back;
  ASSERT_TRUE(eventually([&] { return bool(back = a.admit(id)); })) << back.reason();
  EXPECT_GT(back.token(), b_token);
}

// A re-grant without a collapsed view takes the same path: the record's deletion is a
// membership change A sees, and its return another.
TEST(GuardLease, AServerBackOnANewLeaseWaitsForTheHandoffLikeAJoin) {
  auto registry = MemoryRegistry::create();
  Cluster ca(test::guard_test_options(), registry);
  Cluster cb(test::guard_test_options(), registry);
  Guard a(ca, a_address);
  Guard b(cb, b_address);
  ASSERT_TRUE(eventually([&] { return a.stats().settled && b.stats().settled; }));
  std::string id = id_owned_by(ca, a_address);
  test::end_lease(*registry, 1);
  Admission taken;
  ASSERT_TRUE(eventually([&] { return bool(taken = b.admit(id)); })) << taken.reason();
  test::regrant(*registry, 1);
  Admission early = a.admit(id);
  EXPECT_FALSE(early);
  EXPECT_EQ(early.reason(), "handoff");
  taken.done();
  Admission back;
  ASSERT_TRUE(eventually([&] { return bool(back = a.admit(id)); })) << back.reason();
  EXPECT_GT(back.token(), taken.token());
}

}  // namespace
}  // namespace frodo
