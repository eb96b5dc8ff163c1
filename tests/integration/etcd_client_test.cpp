// The etcd client against one real etcd: KV calls, leases and the keeper, the watcher.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "etcd/kv.hpp"
#include "etcd/lease_keeper.hpp"
#include "etcd/watcher.hpp"
#include "etcd_cluster.hpp"
#include "subprocess.hpp"
#include "process/wait_until.hpp"

namespace frodo::etcd {
namespace {

using namespace std::chrono_literals;
using process::wait_until;

std::shared_ptr<Connection> connect(const std::vector<std::string>& endpoints, std::chrono::milliseconds timeout = 3000ms) {
  EtcdOptions options;
  options.endpoints = endpoints;
  options.call_timeout = timeout;
  return std::make_shared<Connection>(options);
}

// Collects what a Watcher delivers, for assertions from the test thread.
struct EventLog {
  std::mutex mutex;
  std::vector<WatchEvent> events;
  std::vector<std::int64_t> progress;
  std::int64_t resync_at = 0;

  WatcherCallbacks callbacks() {
    return {[this](const std::vector<WatchEvent>& batch, std::int64_t) {
              std::lock_guard lock(mutex);
              events.insert(events.end(), batch.begin(), batch.end());
            },
            [this](std::int64_t revision) {
              std::lock_guard lock(mutex);
              progress.push_back(revision);
            },
            [this](std::int64_t compact) {
              std::lock_guard lock(mutex);
              resync_at = compact;
            },
            {}};
  }
  std::size_t size() {
    std::lock_guard lock(mutex);
    return events.size();
  }
  std::vector<WatchEvent> copy() {
    std::lock_guard lock(mutex);
    return events;
  }
};

class EtcdClient : public ::testing::Test {
 protected:
  test::EtcdCluster etcd_;
};

TEST_F(EtcdClient, PutGetDeleteAndPrefixListing) {
  Kv kv(connect(etcd_.endpoints()));
  std::int64_t r1 = kv.put("/t/a", "1");
  std::int64_t r2 = kv.put("/t/b", std::string("two\0bytes", 9));
  EXPECT_GT(r2, r1);
  RangeResult a = kv.get("/t/a");
  ASSERT_EQ(a.kvs.size(), 1u);
  EXPECT_EQ(a.kvs[0].value, "1");
  EXPECT_EQ(a.kvs[0].mod_revision, r1);
  EXPECT_GE(a.revision, r2);
  EXPECT_EQ(kv.get("/t/b").kvs.at(0).value, std::string("two\0bytes", 9));
  EXPECT_TRUE(kv.get("/t/missing").kvs.empty());

  // A listing larger than a page comes back whole, in key order, at one revision.
  for (int i = 0; i < 25; ++i) kv.put("/t/list/" + std::to_string(100 + i), std::to_string(i));
  kv.put("/t/lisz", "outside the prefix");
  RangeResult list = kv.get_prefix("/t/list/", 4);
  ASSERT_EQ(list.kvs.size(), 25u);
  for (int i = 0; i < 25; ++i) EXPECT_EQ(list.kvs[i].key, "/t/list/" + std::to_string(100 + i));

  EXPECT_EQ(kv.remove("/t/a"), 1);
  EXPECT_EQ(kv.remove("/t/a"), 0);
  EXPECT_EQ(kv.remove_prefix("/t/list/"), 25);
  EXPECT_TRUE(kv.get_prefix("/t/list/").kvs.empty());
  EXPECT_EQ(kv.get("/t/lisz").kvs.size(), 1u);
}

// A listing is etcd's snapshot at its revision however many pages it takes: keys written,
// changed or deleted while it runs (between its pages) do not show up in it, and it is the same,
// record for record, as that revision read in one request.
TEST_F(EtcdClient, APagedListingIsTheSnapshotAtItsRevision) {
  auto connection = connect(etcd_.endpoints());
  Kv kv(connection), writer_kv(connect(etcd_.endpoints()));
  const std::string prefix = "/t/snap/";
  for (int i = 0; i < 60; ++i) kv.put(prefix + "k" + std::to_string(100 + i), "old");
  // A writer changes the prefix while listings run. The scenario needs a write that etcd
  // committed after the listing pinned its revision, seen by the time the listing returns; a slow
  // writer (a sanitizer build on a busy machine) may not get one in, so the listing is
  // repeated, up to 20 times, until one did.
  std::atomic<bool> stop{false}, writer_failed{false};
  std::atomic<std::int64_t> writes{0}, last_revision{0};
  std::string writer_error;
  std::thread writer([&] {
    try {
      for (int i = 0; !stop; ++i) {
        writer_kv.put(prefix + "k" + std::to_string(100 + i % 60), "new");
        last_revision = writer_kv.put(prefix + "new" + std::to_string(i), "x");
        if (i % 2 == 0) {
          std::int64_t revision = 0;
          writer_kv.remove(prefix + "k" + std::to_string(100 + (i * 7) % 60), &revision);
          if (revision > 0) last_revision = revision;
        }
        ++writes;
      }
    } catch (const std::exception& e) {
      writer_error = e.what();
      writer_failed = true;
    }
  });
  std::optional<RangeResult> listed;
  std::string list_error;
  int attempts = 0;
  if (wait_until([&] { return writes >= 3 || writer_failed; }, 30s) && !writer_failed) {
    for (; attempts < 20; ++attempts) {
      try {
        listed = kv.get_prefix(prefix, 1);  // one key per page: every page is its own read
      } catch (const std::exception& e) {
        list_error = e.what();
        break;
      }
      if (last_revision > listed->revision) break;  // a write landed after the pin
    }
  }
  stop = true;
  writer.join();
  ASSERT_TRUE(writer_error.empty()) << writer_error;
  ASSERT_TRUE(listed) << "no listing: " << list_error;
  const RangeResult& list = *listed;
  ASSERT_LT(attempts, 20) << "no write landed during any of 20 listings";
  etcdserverpb::RangeRequest request;
  request.set_key(prefix);
  request.set_range_end(prefix_end(prefix));
  request.set_revision(list.revision);
  etcdserverpb::RangeResponse snapshot;
  connection->call(Rpc::range, "snapshot", [&](Endpoint& e, grpc::ClientContext& c) {
    return e.kv->Range(&c, request, &snapshot);
  });
  ASSERT_EQ(list.kvs.size(), static_cast<std::size_t>(snapshot.kvs_size()));
  for (int i = 0; i < snapshot.kvs_size(); ++i) {
    EXPECT_EQ(list.kvs[i].key, snapshot.kvs(i).key());
    EXPECT_EQ(list.kvs[i].value, snapshot.kvs(i).value());
    EXPECT_EQ(list.kvs[i].mod_revision, snapshot.kvs(i).mod_revision());
    EXPECT_LE(list.kvs[i].mod_revision, list.revision);
  }
  EXPECT_TRUE(list.unreadable.empty());
  EXPECT_NE(list.cluster_id, 0u);
}

// etcd's answers to a read at a revision it has not reached or no longer keeps, as they come
// directly (OUT_OF_RANGE) and through its gRPC proxy (UNKNOWN, the message kept), and others.
TEST(RangeFailure, IsToldByEtcdsMessage) {
  using grpc::Status;
  using grpc::StatusCode;
  const std::string future = "etcdserver: mvcc: required revision is a future revision";
  const std::string compacted = "etcdserver: mvcc: required revision has been compacted";
  EXPECT_EQ(classify_range_failure(Status(StatusCode::OUT_OF_RANGE, future)), RangeFailure::future_revision);
  EXPECT_EQ(classify_range_failure(Status(StatusCode::UNKNOWN, future)), RangeFailure::future_revision);
  EXPECT_EQ(classify_range_failure(Status(StatusCode::OUT_OF_RANGE, compacted)), RangeFailure::compacted);
  EXPECT_EQ(classify_range_failure(Status(StatusCode::UNKNOWN, compacted)), RangeFailure::compacted);
  EXPECT_EQ(classify_range_failure(Status(StatusCode::UNAVAILABLE, future)), RangeFailure::other);
  EXPECT_EQ(classify_range_failure(Status(StatusCode::OUT_OF_RANGE, "something else")), RangeFailure::other);
  EXPECT_EQ(classify_range_failure(Status::OK), RangeFailure::other);
}

TEST_F(EtcdClient, TxnComparesAndSwaps) {
  Kv kv(connect(etcd_.endpoints()));
  auto create_if_absent = [&](const std::string& key, const std::string& value) {
    etcdserverpb::TxnRequest txn;
    auto* cmp = txn.add_compare();
    cmp->set_key(key);
    cmp->set_target(etcdserverpb::Compare::CREATE);
    cmp->set_result(etcdserverpb::Compare::EQUAL);
    cmp->set_create_revision(0);
    auto* put = txn.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(value);
    txn.add_failure()->mutable_request_range()->set_key(key);
    return kv.txn(txn);
  };
  EXPECT_TRUE(create_if_absent("/t/owner", "first").succeeded());
  etcdserverpb::TxnResponse second = create_if_absent("/t/owner", "second");
  EXPECT_FALSE(second.succeeded());
  ASSERT_EQ(second.responses_size(), 1);
  EXPECT_EQ(second.responses(0).response_range().kvs(0).value(), "first");
  EXPECT_EQ(kv.get("/t/owner").kvs.at(0).value, "first");
}

TEST_F(EtcdClient, LeaseExpiryDeletesItsKeys) {
  Kv kv(connect(etcd_.endpoints()));
  std::int64_t granted = 0;
  std::int64_t lease = kv.grant_lease(2, &granted);
  EXPECT_EQ(granted, 2);
  kv.put("/t/leased", "x", lease);
  EXPECT_EQ(kv.lease_info(lease, true).keys, std::vector<std::string>{"/t/leased"});
  // Nobody keeps it alive: etcd deletes the key when the lease expires.
  EXPECT_TRUE(wait_until([&] { return kv.get("/t/leased").kvs.empty(); }, 10s));
  EXPECT_EQ(kv.lease_info(lease).ttl, -1);
}

TEST_F(EtcdClient, KeeperKeepsTheLeaseAndItsKeysAlive) {
  auto connection = connect(etcd_.endpoints());
  Kv kv(connection);
  std::atomic<int> lost{0};
  LeaseKeeper keeper(connection, {.ttl = 2s}, [&](std::int64_t, LeaseLoss) { ++lost; });
  kv.put("/t/alive", "x", keeper.id());
  Clock::time_point first_deadline = keeper.deadline();
  // Outlive the TTL several times over: the deadline keeps moving and the key stays.
  ASSERT_TRUE(wait_until([&] { return keeper.deadline() > first_deadline + 5s; }, 15s));
  EXPECT_EQ(kv.get("/t/alive").kvs.size(), 1u);
  EXPECT_TRUE(keeper.alive());
  EXPECT_GT(kv.lease_info(keeper.id()).ttl, 0);
  EXPECT_EQ(lost, 0);
  // close() revokes: the key goes at once, not after the TTL.
  std::int64_t id = keeper.id();
  keeper.close();
  EXPECT_TRUE(kv.get("/t/alive").kvs.empty());
  EXPECT_EQ(kv.lease_info(id).ttl, -1);
  EXPECT_EQ(lost, 0);
  keeper.close();  // idempotent
}

TEST_F(EtcdClient, KeeperReportsARevokeBySomeoneElse) {
  auto connection = connect(etcd_.endpoints());
  std::mutex mutex;
  std::vector<std::pair<std::int64_t, LeaseLoss>> losses;
  LeaseKeeper keeper(connection, {.ttl = 5s}, [&](std::int64_t id, LeaseLoss reason) {
    std::lock_guard lock(mutex);
    losses.emplace_back(id, reason);
  });
  std::int64_t id = keeper.id();
  Kv(connect(etcd_.endpoints())).revoke_lease(id);
  ASSERT_TRUE(wait_until([&] { std::lock_guard lock(mutex); return !losses.empty(); }, 10s));
  std::lock_guard lock(mutex);
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].first, id);
  EXPECT_EQ(losses[0].second, LeaseLoss::revoked);
  EXPECT_FALSE(keeper.alive());
  EXPECT_EQ(keeper.id(), 0);
}

TEST_F(EtcdClient, KeeperReportsLossWhenEtcdIsGonePastTheTtl) {
  auto connection = connect(etcd_.endpoints(), 1000ms);
  std::atomic<int> calls{0};
  std::atomic<LeaseLoss> reason{LeaseLoss::expired};
  LeaseKeeper keeper(connection, {.ttl = 2s}, [&](std::int64_t, LeaseLoss r) {
    reason = r;
    ++calls;
  });
  ASSERT_TRUE(keeper.alive());
  std::int64_t id = keeper.id();
  etcd_.stop(0);  // frozen: keepalives go unanswered
  ASSERT_TRUE(wait_until([&] { return calls > 0; }, 10s));
  EXPECT_EQ(reason.load(), LeaseLoss::unreachable);
  EXPECT_FALSE(keeper.alive());
  EXPECT_LE(keeper.deadline(), Clock::now());
  etcd_.resume(0);
  // Once etcd answers again (and has expired the lease itself), anything still in flight
  // could produce a second report; close() joins the keeper's threads, so after it the
  // count is final. One loss, one report.
  ASSERT_TRUE(wait_until(
      [&] {
        try {
          return Kv(connection).lease_info(id).ttl == -1;
        } catch (const Error&) {
          return false;  // etcd still waking up
        }
      },
      20s));
  keeper.close();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(reason.load(), LeaseLoss::unreachable);
}

TEST_F(EtcdClient, KeeperRegrantsAfterALossWhenAsked) {
  auto connection = connect(etcd_.endpoints());
  std::atomic<std::int64_t> regranted{0};
  std::atomic<int> lost{0};
  LeaseKeeper keeper(
      connection, {.ttl = 3s, .regrant = true}, [&](std::int64_t, LeaseLoss) { ++lost; },
      [&](std::int64_t id) { regranted = id; });
  std::int64_t first = keeper.id();
  Kv(connection).revoke_lease(first);
  ASSERT_TRUE(wait_until([&] { return regranted.load() != 0; }, 10s));
  EXPECT_EQ(lost, 1);
  EXPECT_NE(regranted.load(), first);
  EXPECT_EQ(keeper.id(), regranted.load());
  EXPECT_TRUE(keeper.alive());
  EXPECT_GT(Kv(connection).lease_info(keeper.id()).ttl, 0);
}

TEST_F(EtcdClient, WatchDeliversEveryEventOfARandomWorkloadInOrder) {
  auto connection = connect(etcd_.endpoints());
  Kv kv(connection);
  std::int64_t start = kv.put("/w/seed", "0") + 1;
  EventLog log;
  Watcher watcher(connection, "/w/", start, log.callbacks());

  // Puts, overwrites and deletes on a few keys; remember what each revision did.
  std::mt19937 rng(1);
  std::map<std::int64_t, std::pair<std::string, bool>> expected;  // revision -> (key, is_put)
  std::map<std::string, bool> exists;
  for (int i = 0; i < 400; ++i) {
    std::string key = "/w/k" + std::to_string(rng() % 20);
    if (exists[key] && rng() % 3 == 0) {
      kv.remove(key);
      expected[kv.get("/w/seed").revision] = {key, false};
      exists[key] = false;
    } else {
      expected[kv.put(key, std::to_string(i))] = {key, true};
      exists[key] = true;
    }
  }
  kv.put("/other/not-watched", "x");
  ASSERT_TRUE(wait_until([&] { return log.size() >= expected.size(); }, 20s));
  std::vector<WatchEvent> events = log.copy();
  ASSERT_EQ(events.size(), expected.size());
  auto it = expected.begin();
  for (const WatchEvent& e : events) {
    EXPECT_EQ(e.kv.mod_revision, it->first);
    EXPECT_EQ(e.kv.key, it->second.first);
    EXPECT_EQ(e.type == WatchEvent::Type::put, it->second.second);
    ++it;
  }
  EXPECT_EQ(watcher.next_revision(), expected.rbegin()->first + 1);
}

TEST_F(EtcdClient, WatchFromAnOldRevisionReplaysHistory) {
  auto connection = connect(etcd_.endpoints());
  Kv kv(connection);
  std::int64_t first = kv.put("/h/a", "1");
  kv.put("/h/b", "2");
  kv.remove("/h/a");
  EventLog log;
  Watcher watcher(connection, "/h/", first, log.callbacks());
  ASSERT_TRUE(wait_until([&] { return log.size() == 3; }, 10s));
  std::vector<WatchEvent> events = log.copy();
  EXPECT_EQ(events[0].kv.key, "/h/a");
  EXPECT_EQ(events[1].kv.key, "/h/b");
  EXPECT_EQ(events[2].type, WatchEvent::Type::remove);
}

TEST_F(EtcdClient, WatchResumesWithNothingMissedAcrossAnEtcdRestart) {
  auto connection = connect(etcd_.endpoints(), 5000ms);
  Kv kv(connection);
  std::int64_t start = kv.put("/r/seed", "") + 1;
  EventLog log;
  Watcher watcher(connection, "/r/", start, log.callbacks());
  std::vector<std::int64_t> written;
  for (int i = 0; i < 20; ++i) written.push_back(kv.put("/r/k" + std::to_string(i), "before"));
  ASSERT_TRUE(wait_until([&] { return log.size() == 20; }, 10s));
  etcd_.kill(0);
  etcd_.restart(0);
  try {
    for (int i = 0; i < 20; ++i) written.push_back(kv.put("/r/k" + std::to_string(i), "after"));
  } catch (const Error& e) {
    FAIL() << e.what() << "\netcd log:\n" << test::run_process({"tail", "-n", "30", etcd_.log_file(0)}).out;
  }
  // A replay after the reconnection would arrive before anything written later: wait for a
  // marker written after the 40 and check that nothing came twice on the way.
  std::int64_t marker = kv.put("/r/marker", "end");
  ASSERT_TRUE(wait_until(
      [&] {
        std::lock_guard lock(log.mutex);
        return !log.events.empty() && log.events.back().kv.mod_revision >= marker;
      },
      20s));
  written.push_back(marker);
  std::vector<WatchEvent> events = log.copy();
  ASSERT_EQ(events.size(), written.size());
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].kv.mod_revision, written[i]);
  EXPECT_GE(watcher.streams_opened(), 2);
}

TEST_F(EtcdClient, WatchFromACompactedRevisionAsksForAResync) {
  auto connection = connect(etcd_.endpoints());
  Kv kv(connection);
  std::int64_t old = kv.put("/c/a", "1");
  kv.put("/c/a", "2");
  std::int64_t now = kv.put("/c/a", "3");
  kv.compact(now);
  EventLog log;
  Watcher watcher(connection, "/c/", old, log.callbacks());
  ASSERT_TRUE(wait_until([&] { std::lock_guard l(log.mutex); return log.resync_at != 0; }, 10s));
  EXPECT_EQ(log.resync_at, now);
  EXPECT_EQ(log.size(), 0u);  // nothing delivered from a history that is gone
}

TEST(EtcdProgress, ProgressNotificationsAdvanceTheRevisionWhenNothingChangesUnderThePrefix) {
  test::EtcdCluster etcd({.extra_flags = {"--experimental-watch-progress-notify-interval=200ms"}});
  auto connection = connect(etcd.endpoints());
  Kv kv(connection);
  std::int64_t start = kv.put("/p/seed", "") + 1;
  EventLog log;
  Watcher watcher(connection, "/p/", start, log.callbacks());
  // Changes elsewhere move the store's revision; the watcher hears of it without events.
  std::int64_t elsewhere = 0;
  for (int i = 0; i < 5; ++i) elsewhere = kv.put("/elsewhere/" + std::to_string(i), "x");
  ASSERT_TRUE(wait_until([&] { return watcher.next_revision() > elsewhere; }, 10s));
  std::lock_guard lock(log.mutex);
  EXPECT_TRUE(log.events.empty());
  ASSERT_FALSE(log.progress.empty());
  EXPECT_GE(log.progress.back(), elsewhere);
  EXPECT_TRUE(std::is_sorted(log.progress.begin(), log.progress.end()));
}

TEST_F(EtcdClient, UnreachableEndpointsFailWithAnErrorNamingThem) {
  etcd_.kill(0);
  auto connection = connect({etcd_.endpoint(0), "127.0.0.1:1"}, 500ms);
  try {
    Kv(connection).get("/x");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.code() == Errc::unavailable || e.code() == Errc::deadline_exceeded) << e.what();
    EXPECT_NE(std::string(e.what()).find(etcd_.endpoint(0)), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LeaseKeeper(connection, {.ttl = 2s}, {}), Error);
}

TEST(EtcdOptionsTest, BadOptionsAreRefusedNamingTheValue) {
  auto refused = [](EtcdOptions options, const std::string& named) {
    try {
      Connection c(options);
      ADD_FAILURE() << "accepted " << named;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::invalid_argument);
      EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
    }
  };
  refused({.endpoints = {"nohost"}}, "'nohost'");
  refused({.endpoints = {"h:0"}}, "'h:0'");
  refused({.endpoints = {}}, "no etcd endpoints");
  refused({.endpoints = {"h:1"}, .call_timeout = 0ms}, "timeout");
  refused({.endpoints = {"h:1"}, .tls = EtcdTls{"/nonexistent/ca.pem", "", ""}}, "'/nonexistent/ca.pem'");
  refused({.endpoints = {"h:1"}, .user = "", .password = "pw"}, "without a user");
  EXPECT_EQ(parse_endpoints("a:1, http://b:2"), (std::vector<std::string>{"a:1", "http://b:2"}));
  EXPECT_EQ(parse_endpoints("https://[::1]:3"), (std::vector<std::string>{"https://[::1]:3"}));
  EXPECT_THROW(parse_endpoints("http://b:2,https://[::1]:3"), Error);  // half plaintext: refused
  EXPECT_THROW(parse_endpoints(""), Error);
  EXPECT_THROW(parse_endpoints("a:1,,b:2"), Error);
}

TEST(EtcdKeys, PrefixEnd) {
  EXPECT_EQ(prefix_end("/frodo/"), "/frodo0");
  EXPECT_EQ(prefix_end(std::string("a\xff", 2)), "b");
  EXPECT_EQ(prefix_end(""), std::string(1, '\0'));
}

}  // namespace
}  // namespace frodo::etcd
