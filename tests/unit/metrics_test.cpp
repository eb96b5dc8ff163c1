// Cluster::stats(), Guard::stats()' metrics and their Prometheus text (docs/metrics.md).
#include <gtest/gtest.h>

#include <map>
#include <vector>
#include <sstream>
#include <string>

#include "frodo/metrics.hpp"
#include "registry/memory_registry_testing.hpp"
#include "guard_support.hpp"

namespace frodo {
namespace {

using namespace std::chrono_literals;
using test::eventually;

ClusterOptions options(bool publish_view = false) {
  ClusterOptions o = test::guard_test_options();
  o.publish_view = publish_view;
  return o;
}

// The value of the sample whose name and labels are exactly `series` (e.g.
// `frodo_view_servers{context="alerts"}`); -1 if there is none.
double sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::string view_meta(const Snapshot& s, const std::string& address) {
  for (const ServerInfo& server : s.servers) {
    if (server.address != address) continue;
    auto it = server.meta.find(view_meta_key);
    return it == server.meta.end() ? "" : it->second;
  }
  return "";
}

TEST(ClusterStats, CountViewsLeaseLossesAndCallbackErrors) {
  auto registry = MemoryRegistry::create();
  Cluster cluster(options(), registry);
  ClusterStats empty = cluster.stats();
  EXPECT_EQ(empty.context, "alerts");
  EXPECT_EQ(empty.view_changes, 1u);  // the first (empty) view
  EXPECT_EQ(empty.servers, 0u);
  frodo::Subscription throwing = cluster.on_change([](const Snapshot&, const Snapshot&) { throw std::runtime_error("boom"); });
  cluster.add_server("127.0.0.1:1");
  cluster.add_server("127.0.0.2:1", {.meta = {{"frodo.leaving", "1"}}});
  ClusterStats s = cluster.stats();
  EXPECT_EQ(s.view_changes, 3u);
  EXPECT_EQ(s.servers, 2u);
  EXPECT_EQ(s.ring_members, 1u);
  EXPECT_EQ(s.revision, cluster.snapshot()->revision);
  EXPECT_EQ(s.checksum, cluster.snapshot()->ring.checksum());
  EXPECT_EQ(s.callback_errors, 2u);
  EXPECT_TRUE(s.lease_alive);
  EXPECT_TRUE(s.registry.etcd_calls.empty());  // no etcd behind a memory registry
  test::end_lease(*registry, 1, LeaseLossReason::revoked);
  ASSERT_TRUE(eventually([&] { return cluster.stats().lease_losses[LeaseLossReason::revoked] == 1; }));
  EXPECT_EQ(cluster.stats().lease_losses.count(LeaseLossReason::expired), 0u);
}

TEST(ClusterStats, LookupsChangeNoCounter) {
  auto registry = MemoryRegistry::create();
  Cluster cluster(options(), registry);
  cluster.add_server("127.0.0.1:1");
  std::string before = prometheus_text(cluster);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(cluster.server_by_id("host-" + std::to_string(i)));
  EXPECT_EQ(prometheus_text(cluster), before);
}

TEST(ViewAgreement, EveryProcessPublishesTheChecksumOfTheRingItHolds) {
  auto registry = MemoryRegistry::create();
  Cluster a(options(true), registry), b(options(true), registry), plain(options(), registry);
  a.add_server("127.0.0.1:1");
  b.add_server("127.0.0.2:1", {.zone = "z", .meta = {{"role", "cache"}}});
  plain.add_server("127.0.0.3:1");
  // After the last change of the ring both publishers write their records again with its
  // checksum; the plain Cluster publishes nothing.
  auto agreed = [&] {
    auto view = plain.snapshot();
    std::string checksum = view->ring.checksum_hex();
    return view_meta(*view, "127.0.0.1:1") == checksum && view_meta(*view, "127.0.0.2:1") == checksum;
  };
  ASSERT_TRUE(eventually(agreed));
  auto view = plain.snapshot();
  EXPECT_EQ(view_meta(*view, "127.0.0.3:1"), "");
  for (const ServerInfo& s : view->servers) {
    if (s.address == "127.0.0.2:1") {  // the options of add_server are kept
      EXPECT_EQ(s.zone, "z");
      EXPECT_EQ(s.meta.at("role"), "cache");
    }
  }
  // Writing the checksum again changes no ring, so it settles: no write loop.
  std::uint64_t writes = a.stats().view_publications + b.stats().view_publications;
  EXPECT_GE(writes, 2u);
  std::int64_t revision = registry->revision();
  EXPECT_FALSE(eventually([&] { return registry->revision() != revision; }, 200ms));
  // A later add_server's options win over the published record's.
  b.add_server("127.0.0.2:1", {.meta = {{"role", "db"}}});
  plain.remove_server("127.0.0.3:1");
  ASSERT_TRUE(eventually(agreed));
  EXPECT_EQ(plain.snapshot()->servers[1].meta.at("role"), "db");
  // A removed server is not written back.
  a.remove_server("127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return plain.snapshot()->servers.size() == 1; }));
  EXPECT_FALSE(eventually([&] { return plain.snapshot()->servers.size() != 1; }, 100ms));
}

TEST(GuardStats, WaitsByReasonAndTheHandoffDuration) {
  auto registry = MemoryRegistry::create();
  Cluster ca(options(), registry), cb(options(), registry);
  Guard a(ca, "127.0.0.1:1");
  ASSERT_TRUE(eventually([&] { return a.stats().settled; }));
  std::vector<Admission> held;  // a's work in flight under the old epoch
  for (int i = 0; i < 200; ++i) {
    held.push_back(a.admit("host-" + std::to_string(i)));
    ASSERT_TRUE(held.back()) << held.back().reason();
  }
  Guard b(cb, "127.0.0.2:1");
  ASSERT_TRUE(eventually([&] { return cb.snapshot()->ring.size() == 2 && ca.snapshot()->ring.size() == 2; }));
  std::string gained = test::id_owned_by(cb, "127.0.0.2:1");
  std::string id_a_keeps = test::id_owned_by(cb, "127.0.0.1:1");
  ASSERT_LT(std::stoi(gained.substr(5)), 200);
  EXPECT_EQ(b.admit(id_a_keeps).verdict(), Verdict::redirect);
  EXPECT_EQ(b.admit(gained).reason(), "handoff");
  held.clear();
  ASSERT_TRUE(eventually([&] { return static_cast<bool>(b.admit(gained)); }));
  GuardStats s = b.stats();
  EXPECT_GE(s.admitted, 1u);
  EXPECT_GE(s.redirected, 1u);
  EXPECT_GE(s.waits["handoff"], 1u);
  std::uint64_t by_reason = 0;
  for (const auto& [reason, n] : s.waits) by_reason += n;
  EXPECT_EQ(by_reason, s.waited);
  ASSERT_TRUE(eventually([&] { return b.stats().handoff.count >= 1; }));
  Histogram h = b.stats().handoff;
  ASSERT_EQ(h.counts.size(), h.bounds.size() + 1);
  std::uint64_t in_buckets = 0;
  for (std::uint64_t n : h.counts) in_buckets += n;
  EXPECT_EQ(in_buckets, h.count);
  EXPECT_GE(h.sum, 0.0);

  std::string text = prometheus_text(cb, {&b});
  const std::string guard = "context=\"alerts\",server=\"127.0.0.2:1\"";
  EXPECT_EQ(sample(text, "frodo_guard_verdicts_total{" + guard + ",verdict=\"admit\",reason=\"\"}"),
            static_cast<double>(b.stats().admitted));
  EXPECT_EQ(sample(text, "frodo_guard_handoff_duration_seconds_count{" + guard + "}"),
            static_cast<double>(b.stats().handoff.count));
  EXPECT_EQ(sample(text, "frodo_guard_handoff_duration_seconds_bucket{" + guard + ",le=\"+Inf\"}"),
            static_cast<double>(b.stats().handoff.count));
  EXPECT_EQ(sample(text, "frodo_guard_settled{" + guard + "}"), 1.0);
}

TEST(PrometheusText, FollowsTheExpositionFormat) {
  ClusterStats c;
  c.context = "a\"b\\c\nd";  // hostile in a label value: escaped, not a second line
  c.revision = 42;
  c.servers = 3;
  c.ring_members = 2;
  c.checksum = 0xabc;
  c.view_changes = 7;
  c.lease_losses[LeaseLossReason::unreachable] = 2;
  Histogram h;
  h.bounds = {0.001, 0.01};
  h.counts = {1, 2, 3};
  h.count = 6;
  h.sum = 2.5;
  c.registry.etcd_calls.push_back({"Put", h, 1});
  std::string text = prometheus_text(c);
  const std::string ctx = R"(context="a\"b\\c\nd")";
  EXPECT_EQ(sample(text, "frodo_view_revision{" + ctx + "}"), 42);
  EXPECT_EQ(sample(text, "frodo_view_servers{" + ctx + "}"), 3);
  EXPECT_EQ(sample(text, "frodo_ring_members{" + ctx + "}"), 2);
  EXPECT_EQ(sample(text, "frodo_view_changes_total{" + ctx + "}"), 7);
  EXPECT_EQ(sample(text, "frodo_view_info{" + ctx + R"(,algorithm="ketama",checksum="0000000000000abc"})"), 1);
  EXPECT_EQ(sample(text, "frodo_lease_losses_total{" + ctx + R"(,reason="unreachable"})"), 2);
  EXPECT_EQ(sample(text, "frodo_lease_losses_total{" + ctx + R"(,reason="expired"})"), 0);
  // Buckets are cumulative and end with +Inf = count.
  const std::string put = ctx + R"(,method="Put")";
  EXPECT_EQ(sample(text, "frodo_etcd_call_duration_seconds_bucket{" + put + R"(,le="0.001"})"), 1);
  EXPECT_EQ(sample(text, "frodo_etcd_call_duration_seconds_bucket{" + put + R"(,le="0.01"})"), 3);
  EXPECT_EQ(sample(text, "frodo_etcd_call_duration_seconds_bucket{" + put + R"(,le="+Inf"})"), 6);
  EXPECT_EQ(sample(text, "frodo_etcd_call_duration_seconds_count{" + put + "}"), 6);
  EXPECT_EQ(sample(text, "frodo_etcd_call_duration_seconds_sum{" + put + "}"), 2.5);
  EXPECT_EQ(sample(text, "frodo_etcd_call_failures_total{" + put + "}"), 1);
  // Each family is announced once, with its type, before its samples; no guard families
  // without guards.
  EXPECT_NE(text.find("# TYPE frodo_view_changes_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE frodo_etcd_call_duration_seconds histogram\n"), std::string::npos);
  EXPECT_NE(text.find("# HELP frodo_view_revision "), std::string::npos);
  EXPECT_EQ(text.find("frodo_guard_"), std::string::npos);
  std::istringstream in(text);
  std::string line;
  std::map<std::string, int> types;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) ++types[line.substr(7, line.find(' ', 7) - 7)];
    ASSERT_TRUE(line.rfind("frodo_", 0) == 0 || line.rfind("# ", 0) == 0 || line.empty()) << line;
  }
  for (const auto& [family, n] : types) EXPECT_EQ(n, 1) << family;
}

}  // namespace
}  // namespace frodo
