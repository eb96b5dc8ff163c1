// The Cluster API over the in-memory registry: the same contract as over etcd, no etcd.
#include "frodo/cluster.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "frodo/error.hpp"
#include "registry/memory_registry_testing.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;

ClusterOptions options(const std::string& context = "appname") {
  ClusterOptions o;
  o.context = context;
  o.logger = [](const std::string&) {};
  return o;
}

TEST(Cluster, TwoProcessesAgreeOnEveryOwner) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry), b(options(), registry);
  for (int i = 0; i < 5; ++i) a.add_server("10.0.0." + std::to_string(i + 1) + ":3030");
  b.add_server("10.0.0.9:3030", {.weight = 2});
  ASSERT_TRUE(a.wait_revision(registry->revision(), 1s));
  ASSERT_TRUE(b.wait_revision(registry->revision(), 1s));
  EXPECT_EQ(a.snapshot()->revision, b.snapshot()->revision);
  EXPECT_EQ(a.snapshot()->ring.checksum(), b.snapshot()->ring.checksum());
  EXPECT_EQ(a.snapshot()->servers.size(), 6u);
  for (int i = 0; i < 10000; ++i) {
    std::string id = "host-" + std::to_string(i);
    ASSERT_EQ(a.server_by_id(id), b.server_by_id(id));
  }
  // The answer is the ring's: frodo.io compatible ketama over the registered addresses.
  EXPECT_EQ(a.server_by_id("someId"), std::string(*a.snapshot()->ring.owner("someId")));
}

TEST(Cluster, EmptyContextHasNoOwner) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry);
  EXPECT_TRUE(a.wait_ready(1s));
  EXPECT_EQ(a.server_by_id("x"), std::nullopt);
  EXPECT_TRUE(a.owners("x", 3).empty());
  EXPECT_FALSE(a.owns("x"));
}

TEST(Cluster, OwnsOnlyWhatThisProcessRegistered) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry), b(options(), registry);
  a.add_server("a:1");
  b.add_server("b:1");
  ASSERT_TRUE(a.wait_revision(registry->revision(), 1s));
  ASSERT_TRUE(b.wait_revision(registry->revision(), 1s));
  int owned_by_a = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string id = std::to_string(i);
    bool a_owns = a.owns(id), b_owns = b.owns(id);
    EXPECT_NE(a_owns, b_owns) << id;  // exactly one owner
    EXPECT_EQ(a_owns, a.server_by_id(id) == "a:1");
    owned_by_a += a_owns;
  }
  EXPECT_GT(owned_by_a, 100);
  EXPECT_LT(owned_by_a, 900);
}

TEST(Cluster, AServerWhoseLeaseEndsLeavesEveryView) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry), b(options(), registry);  // sessions 1 and 2
  std::atomic<int> lost{0};
  std::atomic<LeaseLossReason> reason{LeaseLossReason::closed};
  frodo::Subscription lease_lost = a.on_lease_lost([&](LeaseLossReason r) {
    reason = r;
    ++lost;
  });
  a.add_server("a:1");
  b.add_server("b:1");
  a.add_server("p:1", {.persistent = true});
  test::end_lease(*registry, 1);  // process a "dies"
  ASSERT_TRUE(b.wait_revision(registry->revision(), 1s));
  std::vector<std::string> left;
  std::shared_ptr<const Snapshot> view = b.snapshot();
  for (const auto& s : view->servers) left.push_back(s.address);
  EXPECT_EQ(left, (std::vector<std::string>{"b:1", "p:1"}));  // the persistent one stays
  EXPECT_EQ(lost, 1);
  EXPECT_EQ(reason.load(), LeaseLossReason::expired);
  EXPECT_FALSE(a.lease_alive());
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(a.owns(std::to_string(i)));
}

TEST(Cluster, CloseRemovesThisProcessesServersAtOnce) {
  auto registry = MemoryRegistry::create();
  Cluster b(options(), registry);
  {
    Cluster a(options(), registry);
    a.add_server("a:1");
    a.add_server("a:2");
    ASSERT_TRUE(b.wait_revision(registry->revision(), 1s));
    EXPECT_EQ(b.snapshot()->servers.size(), 2u);
    a.close();
    a.close();  // idempotent
    // Not a usage error: the call was fine, the Cluster is not in a state for it.
    try {
      a.add_server("a:3");
      ADD_FAILURE() << "add_server on a closed Cluster did not throw";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::failed_precondition) << e.what();
    }
  }
  ASSERT_TRUE(b.wait_revision(registry->revision(), 1s));
  EXPECT_TRUE(b.snapshot()->servers.empty());
}

TEST(Cluster, RemoveServer) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(), registry);
  a.add_server("a:1", {.persistent = true});
  EXPECT_TRUE(a.remove_server("a:1"));
  EXPECT_FALSE(a.remove_server("a:1"));
  EXPECT_TRUE(a.snapshot()->servers.empty());
}

TEST(Cluster, ContextsAreIsolated) {
  auto registry = MemoryRegistry::create();
  Cluster one(options("one"), registry), two(options("two"), registry);
  one.add_server("same:1");
  two.add_server("same:1", {.weight = 3});
  two.add_server("other:1");
  EXPECT_EQ(one.snapshot()->servers.size(), 1u);
  EXPECT_EQ(two.snapshot()->servers.size(), 2u);
  EXPECT_EQ(one.snapshot()->servers[0].weight, 1);
}

TEST(Cluster, BadContextsAndServersAreRefusedNamingTheValue) {
  auto registry = MemoryRegistry::create();
  for (const std::string& bad : std::vector<std::string>{"", "../x", "a/b", ".", "..", "has space", std::string(129, 'a'), "x\n"}) {
    try {
      Cluster c(options(bad), registry);
      ADD_FAILURE() << "accepted context '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find("'" + bad + "'"), std::string::npos) << e.what();
    }
  }
  Cluster c(options(), registry);
  EXPECT_THROW(c.add_server("noport"), Error);
  EXPECT_THROW(c.add_server("a:0"), Error);
  EXPECT_THROW(c.add_server("a:1", {.weight = 0}), Error);
  EXPECT_THROW(c.add_server("a:1", {.weight = -1}), Error);
  EXPECT_THROW(c.remove_server("a:99999"), Error);
  ClusterOptions ttl = options();
  ttl.lease_ttl = 0s;
  EXPECT_THROW(Cluster(ttl, registry), Error);
  ClusterOptions prefix = options();
  prefix.prefix = "frodo";
  EXPECT_THROW(Cluster(prefix, registry), Error);
  ClusterOptions deadline = options();
  deadline.connect_timeout = -1ms;
  try {
    Cluster refused(deadline, registry);
    ADD_FAILURE() << "accepted a negative connect_timeout";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("-1 ms"), std::string::npos) << e.what();
  }
}

TEST(Cluster, AnyBytesAreAnId) {
  auto registry = MemoryRegistry::create();
  Cluster c(options(), registry);
  c.add_server("a:1");
  c.add_server("b:1");
  for (const std::string& id : std::vector<std::string>{std::string(), std::string(1, '\0'), std::string("\xff\xfe"), std::string(100000, 'z')}) {
    ASSERT_TRUE(c.server_by_id(id).has_value());
  }
}

TEST(Cluster, OwnersPreferDistinctZonesThenRingOrder) {
  auto registry = MemoryRegistry::create();
  Cluster c(options(), registry);
  // Zone names unrelated to the addresses, and zones of unequal sizes.
  const std::map<std::string, std::string> zone_of = {{"s1:1", "east"}, {"s2:1", "east"}, {"s3:1", "east"},
                                                      {"s4:1", "west"}, {"s5:1", "north"}, {"s6:1", "north"}};
  for (const auto& [address, zone] : zone_of) c.add_server(address, {.zone = zone});
  ASSERT_TRUE(c.wait_revision(registry->revision(), 1s));
  std::shared_ptr<const Snapshot> snapshot = c.snapshot();
  for (int i = 0; i < 500; ++i) {
    std::string id = std::to_string(i);
    std::vector<std::string> three = c.owners(id, 3);
    ASSERT_EQ(three.size(), 3u);
    EXPECT_EQ(three[0], *c.server_by_id(id));
    std::set<std::string> zones;
    for (const std::string& owner : three) zones.insert(zone_of.at(owner));
    EXPECT_EQ(zones.size(), 3u) << "three owners of " << id << " in fewer than three zones";
    // The full order: walking the ring from the id, the first server of each zone not yet
    // chosen, then every other server in ring order.
    std::vector<std::string> expected;
    std::set<std::string> chosen;
    std::vector<std::string_view> ring_order = snapshot->ring.owners(id, zone_of.size());
    for (std::string_view a : ring_order) {
      if (chosen.insert(zone_of.at(std::string(a))).second) expected.emplace_back(a);
    }
    for (std::string_view a : ring_order) {
      if (std::find(expected.begin(), expected.end(), a) == expected.end()) expected.emplace_back(a);
    }
    ASSERT_EQ(expected.size(), zone_of.size());
    EXPECT_EQ(c.owners(id, 10), expected) << id;
    EXPECT_EQ(c.owners(id, 2), std::vector<std::string>(expected.begin(), expected.begin() + 2)) << id;
  }
}

TEST(Cluster, OnChangeGetsTheOldAndTheNewSnapshot) {
  auto registry = MemoryRegistry::create();
  Cluster c(options(), registry);
  std::vector<std::pair<std::size_t, std::size_t>> changes;
  std::mutex mutex;
  frodo::Subscription recording = c.on_change([&](const Snapshot& before, const Snapshot& after) {
    std::lock_guard lock(mutex);
    EXPECT_LT(before.revision, after.revision);
    changes.emplace_back(before.servers.size(), after.servers.size());
  });
  c.add_server("a:1");
  c.add_server("b:1");
  c.remove_server("a:1");
  std::lock_guard lock(mutex);
  EXPECT_EQ(changes, (std::vector<std::pair<std::size_t, std::size_t>>{{0, 1}, {1, 2}, {2, 1}}));
}

TEST(Cluster, LookupsRaceWithChanges) {
  // Readers on other threads while the membership churns: every answer is a member of
  // some published view (the tsan preset checks the publication is race-free).
  auto registry = MemoryRegistry::create();
  Cluster c(options(), registry);
  c.add_server("base:1");
  // Every address the churn below ever registers; "base:1" is never removed.
  std::set<std::string> registered{"base:1"};
  for (int i = 0; i < 200; ++i) registered.insert("s" + std::to_string(i) + ":1");
  std::atomic<bool> stop{false};
  std::atomic<long> answers{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&] {
      for (int i = 0; !stop; ++i) {
        std::string id = std::to_string(i);
        auto owner = c.server_by_id(id);
        ASSERT_TRUE(owner.has_value());
        ASSERT_EQ(registered.count(*owner), 1u) << *owner;
        // One snapshot is self-consistent: its ring's owner is one of its servers.
        std::shared_ptr<const Snapshot> snapshot = c.snapshot();
        std::optional<std::string_view> in_snapshot = snapshot->ring.owner(id);
        ASSERT_TRUE(in_snapshot.has_value());
        ASSERT_TRUE(std::any_of(snapshot->servers.begin(), snapshot->servers.end(),
                                [&](const ServerInfo& s) { return s.address == *in_snapshot; }))
            << *in_snapshot;
        ++answers;
      }
    });
  }
  for (int i = 0; i < 200; ++i) {
    c.add_server("s" + std::to_string(i) + ":1");
    if (i % 3 == 0) c.remove_server("s" + std::to_string(i / 2) + ":1");
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_GT(answers, 0);
}

}  // namespace
}  // namespace frodo
