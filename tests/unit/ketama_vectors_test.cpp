// node-hashring 3.2.0 compatibility: every answer in tests/data/hashring-vectors.jsonl, which
// tests/data/generate-hashring-vectors.sh writes from the real npm package.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "frodo/ring.hpp"
#include "ring/ketama.hpp"

namespace frodo {
namespace {

struct VectorRing {
  std::string name;
  std::vector<Member> members;
  nlohmann::json record;
};

std::vector<VectorRing> load_vectors() {
  std::ifstream in(FRODO_TEST_DATA "/hashring-vectors.jsonl");
  std::vector<VectorRing> rings;
  std::string line;
  while (std::getline(in, line)) {
    VectorRing r;
    r.record = nlohmann::json::parse(line);
    r.name = r.record["name"];
    for (const auto& s : r.record["servers"]) r.members.push_back({s["address"], s["weight"].get<double>(), ""});
    rings.push_back(std::move(r));
  }
  return rings;
}

const std::vector<VectorRing>& vectors() {
  static const std::vector<VectorRing> all = load_vectors();
  return all;
}

TEST(KetamaVectors, FileHasEveryKindOfRing) {
  ASSERT_GE(vectors().size(), 20u);
  std::size_t largest = 0, queries = 0;
  bool weighted = false, non_ascii = false, long_id = false, empty_id = false;
  for (const VectorRing& r : vectors()) {
    largest = std::max(largest, r.members.size());
    for (const Member& m : r.members) weighted |= m.weight != 1;
    for (const auto& q : r.record["queries"]) {
      std::string id = q["id"];
      ++queries;
      empty_id |= id.empty();
      long_id |= id.size() >= 1000;
      non_ascii |= std::any_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    }
  }
  EXPECT_GE(largest, 300u);
  EXPECT_TRUE(weighted && non_ascii && long_id && empty_id);
  EXPECT_GE(queries, 5000u);
}

TEST(KetamaVectors, OwnerAndOwnersMatchNodeHashringInAnyMemberOrder) {
  std::mt19937 rng(7);
  for (const VectorRing& r : vectors()) {
    std::vector<Member> members = r.members;
    std::shuffle(members.begin(), members.end(), rng);  // node got them sorted; order must not matter
    Ring ring(members);
    std::size_t checked = 0;
    for (const auto& q : r.record["queries"]) {
      std::string id = q["id"];
      ASSERT_EQ(ring.owner(id), q["get"].get<std::string>()) << r.name << " id '" << id << "'";
      std::vector<std::string> range3 = q["range3"];
      std::vector<std::string_view> got = ring.owners(id, 3);
      ASSERT_EQ(std::vector<std::string>(got.begin(), got.end()), range3) << r.name << " id '" << id << "'";
      if (q.contains("rangeAll")) {
        std::vector<std::string> all = q["rangeAll"];
        std::vector<std::string_view> every = ring.owners(id, members.size() + 2);
        ASSERT_EQ(std::vector<std::string>(every.begin(), every.end()), all) << r.name;
      }
      ++checked;
    }
    EXPECT_GT(checked, 0u) << r.name;
  }
}

TEST(KetamaVectors, PointCountsFollowNodeHashringFloatingPoint) {
  for (const VectorRing& r : vectors()) {
    double total = 0;
    for (const Member& m : r.members) total += m.weight;
    std::size_t points = 0;
    for (const Member& m : r.members) {
      std::size_t expected = r.record["points"][m.address];
      EXPECT_EQ(detail::Ketama::vnodes_for(m.weight, total, r.members.size()) * 4, expected) << r.name << " " << m.address;
      points += expected;
    }
    EXPECT_EQ(detail::Ketama(r.members).point_count(), points) << r.name;
  }
  // The famous case: 7 equal servers get 39 vnodes (156 points), not 40.
  EXPECT_EQ(detail::Ketama::vnodes_for(1, 7, 7), 39u);
  EXPECT_EQ(detail::Ketama::vnodes_for(1, 8, 8), 40u);
}

TEST(KetamaVectors, SpreadEqualsNodeHashringsOwn) {
  std::size_t seen = 0;
  for (const VectorRing& r : vectors()) {
    if (!r.record.contains("peakToMean")) continue;
    ++seen;
    Ring ring(r.members);
    std::vector<double> shares = ring.shares();
    double peak_to_mean = *std::max_element(shares.begin(), shares.end()) * static_cast<double>(shares.size());
    EXPECT_NEAR(peak_to_mean, r.record["peakToMean"].get<double>(), 1e-9) << r.name;
  }
  EXPECT_EQ(seen, 3u);
}

}  // namespace
}  // namespace frodo
