// The ownership guard across a real network fault (issue 10, "Real faults the demo does not
// yet make"). Server A's Cluster reaches etcd only through a FaultProxy; server B's Cluster
// talks to etcd directly. The proxy then cuts A off (a black hole: TCP stays up, nothing
// moves; or resets: every connection refused), and heals.
//
// What must hold (docs/ownership-guard.md):
// - Rule 5, "No lease, no work": A stops admitting ("lease expired") by its own clock, before
//   etcd expires its lease, so before B can take its ids over: A's last admission of an id
//   ends before B's first admission of it begins.
// - B takes A's ids over once etcd has expired A's lease (A's record leaves B's view).
// - After the heal A's lease is re-granted and its record re-registered on the new lease by
//   the session on its own, and A gains its ids back only after B released them: while B still holds an
//   Admission for one of them, A never admits that id (no two Admissions of one id overlap
//   across the two guards), and A's token for it is then above B's (tokens grow along
//   every handoff). Once B finishes, ownership settles and A admits its ids again. (Before
//   the fix of issue 10's defect 1, A admitted under its old epoch here.)
#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "etcd_cluster.hpp"
#include "fault_proxy.hpp"
#include "frodo/cluster.hpp"
#include "frodo/guard.hpp"
#include "process/wait_until.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using process::wait_until;

// Safety deadline for each awaited condition: generous for sanitizer builds on a loaded
// machine; a healthy run meets each in a few seconds at most.
constexpr auto patience = 60s;

// Warnings of the library (Clusters and Guards), shown when a test fails.
class Log {
 public:
  std::function<void(const std::string&)> sink(std::string who) {
    return [this, who](const std::string& message) {
      std::lock_guard lock(mutex_);
      lines_.push_back(who + ": " + message);
    };
  }
  std::string text() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const std::string& line : lines_) out += "  " + line + "\n";
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> lines_;
};

bool has_server(const Cluster& c, const std::string& address) {
  std::shared_ptr<const Snapshot> view = c.snapshot();
  for (const ServerInfo& s : view->servers) {
    if (s.address == address) return true;
  }
  return false;
}

// The lease the server's record hangs on in this Cluster's view (-1: not in it).
std::int64_t lease_of(const Cluster& c, const std::string& address) {
  std::shared_ptr<const Snapshot> view = c.snapshot();
  for (const ServerInfo& s : view->servers) {
    if (s.address == address) return s.lease;
  }
  return -1;
}

struct Grant {
  Clock::time_point began, ended;  // before admit() was called; after the admission ended
  std::int64_t token = 0;
  std::int64_t revision = 0;
};

// Asks `guard` to admit `id` over and over on its own thread, ending each admission at once,
// and records the admissions it got: how many, the last one, and (once armed) every one
// granted since, up to a bound.
class AdmitProbe {
 public:
  AdmitProbe(Guard& guard, std::string id) : guard_(guard), id_(std::move(id)) {
    thread_ = std::thread([this] { run(); });
  }
  ~AdmitProbe() { stop(); }
  AdmitProbe(const AdmitProbe&) = delete;
  AdmitProbe& operator=(const AdmitProbe&) = delete;

  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // From now on, every admission is kept (up to 100; `armed_grants` counts them all).
  void arm() {
    std::lock_guard lock(mutex_);
    armed_ = true;
    kept_.clear();
    armed_count_ = 0;
  }
  std::uint64_t calls() const { return calls_; }
  std::uint64_t grants() const {
    std::lock_guard lock(mutex_);
    return count_;
  }
  std::optional<Grant> last() const {
    std::lock_guard lock(mutex_);
    return last_;
  }
  std::vector<Grant> armed_grants(std::uint64_t* count) const {
    std::lock_guard lock(mutex_);
    *count = armed_count_;
    return kept_;
  }
  std::string failure() const {
    std::lock_guard lock(mutex_);
    return failure_;
  }

 private:
  void run() noexcept {
    try {
      while (!stop_) {
        Grant g;
        g.began = Clock::now();
        {
          Admission a = guard_.admit(id_);
          if (a) {
            g.token = a.token();
            g.revision = a.revision();
          }
        }  // the admission ends here
        g.ended = Clock::now();
        ++calls_;
        if (g.token != 0) {
          std::lock_guard lock(mutex_);
          ++count_;
          last_ = g;
          if (armed_) {
            ++armed_count_;
            if (kept_.size() < 100) kept_.push_back(g);
          }
        }
        // Paced, so the probe leaves the machine's two cores to etcd and the Clusters.
        std::this_thread::sleep_for(1ms);
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      failure_ = e.what();
    } catch (...) {
      std::lock_guard lock(mutex_);
      failure_ = "non-standard exception";
    }
  }

  Guard& guard_;
  std::string id_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> calls_{0};
  mutable std::mutex mutex_;
  std::uint64_t count_ = 0;
  std::optional<Grant> last_;
  bool armed_ = false;
  std::uint64_t armed_count_ = 0;
  std::vector<Grant> kept_;
  std::string failure_;
  std::thread thread_;
};

enum class Fault { black_hole, reset };

void apply(fault::FaultProxy& proxy, Fault fault) {
  if (fault == Fault::black_hole) {
    proxy.black_hole();
  } else {
    proxy.reset();
  }
}

// The whole scenario for one kind of fault.
void cut_off_and_heal(Fault fault) {
  test::EtcdCluster etcd;
  fault::FaultProxy proxy({.upstream = etcd.endpoint(0)});
  Log log;

  ClusterOptions through_proxy;
  through_proxy.context = "partition";
  through_proxy.etcd.endpoints = {proxy.address()};
  through_proxy.etcd.call_timeout = 1000ms;
  through_proxy.lease_ttl = 2s;
  through_proxy.logger = log.sink("cluster A");
  ClusterOptions direct = through_proxy;
  direct.etcd.endpoints = etcd.endpoints();
  // B's lease is not what this test is about: long enough that a loaded machine never lets it
  // lapse while B holds the admission A must not overlap.
  direct.lease_ttl = 10s;
  direct.logger = log.sink("cluster B");

  // No peer is given up on during the test: the handoffs below rest on releases alone.
  GuardOptions guard_a{.release_timeout = std::chrono::minutes(10), .logger = log.sink("guard A")};
  GuardOptions guard_b{.release_timeout = std::chrono::minutes(10), .logger = log.sink("guard B")};
  Cluster a(through_proxy);
  Cluster b(direct);
  Guard ga(a, "127.0.0.1:1", guard_a);
  Guard gb(b, "127.0.0.2:1", guard_b);

  ASSERT_TRUE(wait_until(
      [&] {
        return has_server(a, "127.0.0.2:1") && has_server(b, "127.0.0.1:1") && a.snapshot()->revision == b.snapshot()->revision &&
               ga.stats().settled && gb.stats().settled;
      },
      patience))
      << log.text();

  // A's ids in the common view; x is the one B will hold an admission for after taking over.
  std::vector<std::string> a_ids, b_ids;
  {
    std::shared_ptr<const Snapshot> view = a.snapshot();
    for (int i = 0; i < 200; ++i) {
      std::string id = "host-" + std::to_string(i);
      (view->ring.owner(id) == "127.0.0.1:1" ? a_ids : b_ids).push_back(id);
    }
  }
  ASSERT_GE(a_ids.size(), 10u);
  ASSERT_GE(b_ids.size(), 10u);
  const std::string x = a_ids.front();
  ASSERT_TRUE(wait_until([&] { return ga.admit(x).verdict() == Verdict::admit; }, patience)) << log.text();
  EXPECT_EQ(gb.admit(x).verdict(), Verdict::redirect);

  const std::int64_t old_lease = a.lease_id();
  ASSERT_NE(old_lease, 0);

  // --- The fault. A keeps being asked for x throughout.
  auto probe = std::make_unique<AdmitProbe>(ga, x);
  ASSERT_TRUE(wait_until([&] { return probe->grants() > 0; }, patience));
  apply(proxy, fault);

  // Rule 5: A stops admitting by its own clock.
  ASSERT_TRUE(wait_until(
      [&] {
        Admission v = ga.admit(x);
        return v.verdict() == Verdict::wait && v.reason() == "lease expired";
      },
      patience))
      << log.text();

  // etcd expires A's lease: A's record leaves B's view, and B takes A's ids over.
  ASSERT_TRUE(wait_until([&] { return !has_server(b, "127.0.0.1:1"); }, patience)) << log.text();
  EXPECT_FALSE(a.lease_alive()) << "etcd expired A's lease before A's own deadline passed";
  Admission held;
  Clock::time_point b_began;
  ASSERT_TRUE(wait_until(
      [&] {
        b_began = Clock::now();
        held = gb.admit(x);
        return held.verdict() == Verdict::admit;
      },
      patience))
      << "B did not take x over: " << held.reason() << "\n" << log.text();
  probe->stop();
  ASSERT_EQ(probe->failure(), "");
  std::optional<Grant> a_last = probe->last();
  ASSERT_TRUE(a_last.has_value());
  EXPECT_LT(a_last->ended, b_began) << "A's admission of " << x << " overlapped B's";
  for (const std::string& id : a_ids) {
    EXPECT_EQ(b.server_by_id(id), "127.0.0.2:1") << id;
  }
  // Still cut off: A admits nothing, not even its own ids of old.
  for (const std::string& id : b_ids) EXPECT_EQ(ga.admit(id).reason(), "lease expired") << id;
  const std::int64_t held_token = held.token();

  // --- Heal. The session re-grants A's lease and re-registers A on its own; while B holds x,
  // A must not admit x.
  probe = std::make_unique<AdmitProbe>(ga, x);
  probe->arm();
  proxy.heal();
  ASSERT_TRUE(wait_until([&] { return a.lease_alive(); }, patience)) << "A's lease was not re-granted\n" << log.text();
  ASSERT_TRUE(wait_until([&] { return has_server(b, "127.0.0.1:1"); }, patience))
      << "A's record was not re-registered\n" << log.text();
  // On a new lease: the record B sees is A's current lease's, not the expired one's.
  ASSERT_TRUE(wait_until([&] { return lease_of(b, "127.0.0.1:1") == a.lease_id(); }, patience)) << log.text();
  EXPECT_NE(a.lease_id(), old_lease);
  std::int64_t back_at = b.snapshot()->revision;
  ASSERT_TRUE(wait_until([&] { return a.snapshot()->revision >= back_at && has_server(a, "127.0.0.1:1"); }, patience))
      << "A's view did not catch up\n" << log.text();
  // A has had its view with its own record back and been asked many times since.
  std::uint64_t calls = probe->calls();
  ASSERT_TRUE(wait_until([&] { return probe->calls() >= calls + 50; }, patience));
  probe->stop();
  ASSERT_EQ(probe->failure(), "");
  EXPECT_TRUE(b.lease_alive()) << "B's lease lapsed: the overlap check below would not mean anything";
  // The overlap issue 10's defect 1 made (reproduced here 18 times in 20 before its fix): the
  // guard admitted under its old epoch once its lease was re-granted, while B held the id.
  std::uint64_t overlaps = 0;
  std::vector<Grant> grants = probe->armed_grants(&overlaps);
  if (overlaps > 0) {
    std::ostringstream text;
    for (std::size_t i = 0; i < grants.size() && i < 5; ++i) {
      text << "  token " << grants[i].token << " in the view of revision " << grants[i].revision << "\n";
    }
    ADD_FAILURE() << "A admitted " << x << " " << overlaps << " times while B held it (B's token " << held_token
                  << "), among them:\n" << text.str() << log.text();
  }
  // And A is where the protocol says: it owns x again and waits for B's release.
  Admission waiting = ga.admit(x);
  EXPECT_EQ(waiting.verdict(), Verdict::wait);
  EXPECT_EQ(waiting.reason(), "handoff");
  waiting.done();

  // --- B finishes: ownership settles, and A admits its ids again, with tokens above B's.
  held.done();
  Admission again;
  ASSERT_TRUE(wait_until(
      [&] {
        again = ga.admit(x);
        return again.verdict() == Verdict::admit;
      },
      patience))
      << "A never admitted " << x << " again: " << again.reason() << "\n" << log.text();
  EXPECT_GT(again.token(), held_token) << "tokens must grow along the handoff back to A";
  again.done();
  ASSERT_TRUE(wait_until(
      [&] {
        return a.snapshot()->revision == b.snapshot()->revision && ga.stats().settled && gb.stats().settled;
      },
      patience))
      << log.text();
  EXPECT_EQ(a.snapshot()->ring.checksum(), b.snapshot()->ring.checksum());
  for (const std::string& id : a_ids) {
    EXPECT_TRUE(wait_until([&] { return ga.admit(id).verdict() == Verdict::admit; }, patience)) << id;
    Admission other = gb.admit(id);
    EXPECT_EQ(other.verdict(), Verdict::redirect) << id;
    EXPECT_EQ(other.owner(), "127.0.0.1:1") << id;
  }
  for (const std::string& id : b_ids) {
    EXPECT_TRUE(wait_until([&] { return gb.admit(id).verdict() == Verdict::admit; }, patience)) << id;
    EXPECT_EQ(ga.admit(id).verdict(), Verdict::redirect) << id;
  }
  if (fault == Fault::black_hole) {
    EXPECT_GT(proxy.counters().bytes_to_upstream, 0u);
  } else {
    EXPECT_GT(proxy.counters().resets + proxy.counters().refused, 0u);
  }
  EXPECT_EQ(proxy.error(), "");
}

TEST(GuardPartition, BlackHoledServerStopsAtItsDeadlineAndRegainsItsIdsOnlyAfterTheHandoff) {
  cut_off_and_heal(Fault::black_hole);
}

TEST(GuardPartition, ResetServerStopsAtItsDeadlineAndRegainsItsIdsOnlyAfterTheHandoff) {
  cut_off_and_heal(Fault::reset);
}

}  // namespace
}  // namespace frodo
