// A Cluster's memory follows its membership, not the number of changes it has seen, and no
// callback or value can stop it.
#include <gtest/gtest.h>
#include <malloc.h>

#include "frodo/cluster.hpp"
#include "frodo/error.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace frodo {
namespace {

// Bytes the allocator has handed out and not taken back.
std::size_t allocated_bytes() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#else
  struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
#endif
}

ClusterOptions quiet(const std::string& context = "app") {
  ClusterOptions o;
  o.context = context;
  o.logger = [](const std::string&) {};
  return o;
}

TEST(ClusterMemory, ViewsShareTheRecordsThatDidNotChange) {
  auto registry = MemoryRegistry::create();
  Cluster writer(quiet(), registry), reader(quiet(), registry);
  writer.add_server("a:1", {.meta = {{"big", std::string(10000, 'x')}}});
  writer.add_server("b:1");
  auto before = reader.snapshot();
  writer.add_server("b:1", {.meta = {{"v", "2"}}});
  auto after = reader.snapshot();
  ASSERT_EQ(after->servers.size(), 2u);
  EXPECT_EQ(&before->servers[0], &after->servers[0]) << "the unchanged record was copied";
  EXPECT_NE(&before->servers[1], &after->servers[1]);
}

TEST(ClusterMemory, BoundedUnderAStreamOfRewritesOfALargeRecord) {
  auto registry = MemoryRegistry::create();
  Cluster writer(quiet(), registry), reader(quiet(), registry);
  for (int i = 0; i < 50; ++i) writer.add_server("10.0.0." + std::to_string(i) + ":1");
  const std::string big(50000, 'm');
  writer.add_server("10.0.1.1:1", {.meta = {{"blob", big + "0"}}});
  (void)reader.server_by_id("warm-up");
  std::size_t baseline = allocated_bytes();
  for (int i = 1; i <= 300; ++i) {
    // Meta-only rewrites: the ring stays, only the record changes.
    writer.add_server("10.0.1.1:1", {.meta = {{"blob", big + std::to_string(i)}}});
    ASSERT_TRUE(reader.server_by_id("host-" + std::to_string(i)).has_value());
  }
  std::size_t grown = allocated_bytes() > baseline ? allocated_bytes() - baseline : 0;
  // 300 rewrites of a 50 KB record: kept views would hold 15 MB or more. A handful of live
  // copies (the registry's, each Cluster's view, this thread's cached views) is allowed.
  EXPECT_LT(grown, 20 * big.size()) << "grew by " << grown << " bytes";
  EXPECT_EQ(reader.snapshot()->servers.size(), 51u);
}

TEST(ClusterMemory, ACallbackThatThrowsIsReportedAndTheOthersStillRun) {
  auto registry = MemoryRegistry::create();
  std::vector<std::string> warnings;
  ClusterOptions o = quiet();
  o.logger = [&](const std::string& m) { warnings.push_back(m); };
  Cluster cluster(o, registry);
  int second = 0;
  frodo::Subscription throwing = cluster.on_change([](const Snapshot&, const Snapshot&) { throw std::runtime_error("boom"); });
  frodo::Subscription counting = cluster.on_change([&](const Snapshot&, const Snapshot&) { ++second; });
  cluster.add_server("a:1");
  cluster.add_server("b:1");
  EXPECT_EQ(second, 2);
  ASSERT_EQ(warnings.size(), 2u);
  EXPECT_NE(warnings[0].find("boom"), std::string::npos) << warnings[0];
  EXPECT_EQ(cluster.snapshot()->servers.size(), 2u);
}

TEST(ClusterMemory, AddServerReturnsTheRevisionItsOwnViewHolds) {
  auto registry = MemoryRegistry::create();
  Cluster cluster(quiet(), registry);
  std::int64_t revision = cluster.add_server("a:1");
  EXPECT_GE(cluster.snapshot()->revision, revision);
  EXPECT_EQ(cluster.server_by_id("any"), "a:1");
  EXPECT_TRUE(cluster.remove_server("a:1"));
  EXPECT_FALSE(cluster.server_by_id("any"));
  EXPECT_FALSE(cluster.remove_server("a:1"));
}

TEST(ClusterMemory, BadRecordsAreRefusedBeforeTheyAreWritten) {
  auto registry = MemoryRegistry::create();
  Cluster cluster(quiet(), registry);
  EXPECT_THROW(cluster.add_server("a:1", {.zone = "\xff"}), Error);
  EXPECT_THROW(cluster.add_server("a:1", {.weight = 1e308}), Error);
  EXPECT_THROW(cluster.add_server("a:1", {.meta = {{"k", std::string(70000, 'v')}}}), Error);
  ClusterOptions small = quiet("small");
  small.max_value_bytes = 10;
  EXPECT_THROW(Cluster(small, registry), Error);
  EXPECT_TRUE(cluster.snapshot()->servers.empty());
}

}  // namespace
}  // namespace frodo
