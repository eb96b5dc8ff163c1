// The etcd client in a 3-member cluster: the member a watcher and a lease keeper are
// connected to dies (a follower, then the leader), and a concurrent writer's every revision
// must still reach the watcher exactly once while the lease stays alive.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"
#include "process/wait_until.hpp"

namespace frodo::etcd {
namespace {

using namespace std::chrono_literals;
using process::wait_until;

// Endpoints with member `first` first: a new connection starts on it.
std::vector<std::string> starting_at(const test::EtcdCluster& etcd, int first) {
  std::vector<std::string> endpoints{etcd.endpoint(first)};
  for (int i = 0; i < etcd.size(); ++i) {
    if (i != first) endpoints.push_back(etcd.endpoint(i));
  }
  return endpoints;
}

std::shared_ptr<Connection> connect(const std::vector<std::string>& endpoints) {
  EtcdOptions options;
  options.endpoints = endpoints;
  options.call_timeout = 2000ms;
  return std::make_shared<Connection>(options);
}

// Writes keys one after another until stopped, remembering each write's revision.
class Writer {
 public:
  explicit Writer(std::shared_ptr<Connection> connection) : kv_(std::move(connection)) {
    thread_ = std::thread([this] {
      for (int i = 0; !stop_; ++i) {
        try {
          std::int64_t revision = kv_.put("/f/k" + std::to_string(i % 50), std::to_string(i));
          std::lock_guard lock(mutex_);
          revisions_.push_back(revision);
        } catch (const Error& e) {
          // A write that failed over past its deadline; it may or may not have landed, so
          // the check below only demands the revisions we know about.
          std::lock_guard lock(mutex_);
          ++failures_;
        }
      }
    });
  }
  ~Writer() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return revisions_.size();
  }
  std::vector<std::int64_t> revisions() {
    std::lock_guard lock(mutex_);
    return revisions_;
  }

 private:
  Kv kv_;
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::vector<std::int64_t> revisions_;
  int failures_ = 0;
  std::thread thread_;
};

void kill_the_member_we_use(bool leader) {
  test::EtcdCluster etcd({.members = 3});
  int victim = etcd.leader();
  if (!leader) victim = (victim + 1) % 3;

  auto connection = connect(starting_at(etcd, victim));
  Kv kv(connection);
  std::int64_t start = kv.put("/f/seed", "") + 1;

  std::mutex mutex;
  std::vector<std::int64_t> seen;
  std::int64_t resync = 0;
  Watcher watcher(connection, "/f/", start,
                  {[&](const std::vector<WatchEvent>& events, std::int64_t) {
                     std::lock_guard lock(mutex);
                     for (const auto& e : events) seen.push_back(e.kv.mod_revision);
                   },
                   {},
                   [&](std::int64_t r) { resync = r; },
                   {}},
                  {.idle_probe = 500ms});
  std::atomic<int> lost{0};
  LeaseKeeper keeper(connection, {.ttl = 5s}, [&](std::int64_t, LeaseLoss) { ++lost; });
  kv.put("/lease/held", "x", keeper.id());
  ASSERT_EQ(connection->endpoint(connection->current_endpoint()).address, etcd.endpoint(victim));

  Writer writer(connect(starting_at(etcd, (victim + 1) % 3)));
  ASSERT_TRUE(wait_until([&] { return writer.count() >= 100; }, 20s));
  etcd.kill(victim);
  std::size_t at_kill = writer.count();
  ASSERT_TRUE(wait_until([&] { return writer.count() >= at_kill + 200; }, 30s));
  writer.stop();
  std::vector<std::int64_t> written = writer.revisions();

  ASSERT_TRUE(wait_until([&] { return watcher.next_revision() > written.back(); }, 30s));
  std::lock_guard lock(mutex);
  EXPECT_EQ(resync, 0);
  // Every revision exactly once, in order.
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
  EXPECT_EQ(std::set<std::int64_t>(seen.begin(), seen.end()).size(), seen.size()) << "a revision arrived twice";
  std::set<std::int64_t> seen_set(seen.begin(), seen.end());
  for (std::int64_t r : written) EXPECT_TRUE(seen_set.count(r)) << "revision " << r << " never arrived";
  EXPECT_GE(watcher.streams_opened(), 2);

  // The lease survived on another member.
  EXPECT_TRUE(keeper.alive());
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(Kv(connect(starting_at(etcd, (victim + 1) % 3))).get("/lease/held").kvs.size(), 1u);
  Clock::time_point deadline = keeper.deadline();
  EXPECT_TRUE(wait_until([&] { return keeper.deadline() > deadline; }, 10s)) << "keepalives stopped";
}

TEST(EtcdFailover, KillTheFollowerTheClientUses) { kill_the_member_we_use(false); }

TEST(EtcdFailover, KillTheLeaderTheClientUses) { kill_the_member_we_use(true); }

TEST(EtcdFailover, CompactionWhileTheWatcherIsCutOffAsksForAResync) {
  test::EtcdCluster etcd({.members = 3});
  int cut = (etcd.leader() + 1) % 3;
  auto connection = connect({etcd.endpoint(cut)});  // this member only: it can be cut off
  Kv kv(connection);
  std::int64_t start = kv.put("/c/seed", "") + 1;
  std::atomic<std::int64_t> resync{0};
  std::atomic<int> delivered{0};
  Watcher watcher(connection, "/c/", start,
                  {[&](const std::vector<WatchEvent>& e, std::int64_t) { delivered += static_cast<int>(e.size()); },
                   {},
                   [&](std::int64_t r) { resync = r; },
                   {}});
  kv.put("/c/a", "1");
  ASSERT_TRUE(wait_until([&] { return delivered == 1; }, 10s));

  etcd.kill(cut);
  Kv others(connect(starting_at(etcd, (cut + 1) % 3)));
  others.put("/c/a", "2");
  std::int64_t compacted = others.put("/c/a", "3");
  others.compact(compacted);
  etcd.restart(cut);  // it serves clients only after applying the log, compaction included

  ASSERT_TRUE(wait_until([&] { return resync.load() != 0; }, 30s));
  EXPECT_EQ(resync.load(), compacted);
  EXPECT_EQ(delivered, 1);  // it never skipped ahead to the newer events
}

TEST(EtcdFailover, FrozenMemberIsAbandonedForAnother) {
  test::EtcdCluster etcd({.members = 3});
  int frozen = (etcd.leader() + 1) % 3;
  auto connection = connect(starting_at(etcd, frozen));
  Kv kv(connection);
  std::int64_t start = kv.put("/z/seed", "") + 1;
  std::atomic<int> delivered{0};
  Watcher watcher(connection, "/z/", start,
                  {[&](const std::vector<WatchEvent>& e, std::int64_t) { delivered += static_cast<int>(e.size()); },
                   {},
                   [](std::int64_t) {},
                   {}},
                  {.idle_probe = 300ms});
  etcd.stop(frozen);  // holds its sockets open but answers nothing
  Kv others(connect(starting_at(etcd, (frozen + 1) % 3)));
  for (int i = 0; i < 10; ++i) others.put("/z/k" + std::to_string(i), "v");
  EXPECT_TRUE(wait_until([&] { return delivered == 10; }, 20s));
  etcd.resume(frozen);
}

}  // namespace
}  // namespace frodo::etcd
