// Maglev's answers pinned: tests/data/maglev-golden.json, written by
// tests/data/generate-maglev-golden.cpp, holds the owners of fixed ids, each member's share
// and the checksum of a few rings. Any change to maglev's hashing, table sizes or table fill
// changes some of them. Such a change moves ids between servers in every deployment that
// upgrades, so it must be deliberate: regenerate the file in the same commit, and say so.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "frodo/ring.hpp"

namespace frodo {
namespace {

nlohmann::json load_golden() {
  std::ifstream in(FRODO_TEST_DATA "/maglev-golden.json");
  if (!in) throw std::runtime_error("cannot open " FRODO_TEST_DATA "/maglev-golden.json");
  return nlohmann::json::parse(in);
}

const nlohmann::json& golden() {
  static const nlohmann::json data = load_golden();
  return data;
}

TEST(MaglevGolden, FileCoversSmallLargeAndWeightedRings) {
  const auto& rings = golden().at("rings");
  ASSERT_GE(rings.size(), 4u);
  std::size_t largest = 0;
  bool weighted = false;
  for (const auto& r : rings) {
    largest = std::max(largest, r.at("members").size());
    for (const auto& m : r.at("members")) weighted |= m.at("weight").get<double>() != 1;
    EXPECT_GE(r.at("owners").size(), 100u);
  }
  EXPECT_GE(largest, 656u);  // the second table size
  EXPECT_TRUE(weighted);
}

TEST(MaglevGolden, EveryRingAnswersAsRecorded) {
  for (const auto& r : golden().at("rings")) {
    std::string name = r.at("name");
    std::vector<Member> members;
    for (const auto& m : r.at("members")) members.push_back({m.at("address"), m.at("weight").get<double>(), ""});
    Ring ring(members, Algorithm::maglev);
    EXPECT_EQ(ring.checksum_hex(), r.at("checksum").get<std::string>()) << name;

    std::vector<double> shares = ring.shares();
    ASSERT_EQ(shares.size(), r.at("shares").size()) << name;
    for (std::size_t i = 0; i < shares.size(); ++i) {
      const std::string& address = ring.members()[i].address;
      EXPECT_DOUBLE_EQ(shares[i], r.at("shares").at(address).get<double>()) << name << " " << address;
    }

    std::size_t mismatches = 0;
    for (const auto& q : r.at("owners")) {
      std::string id = q.at("id");
      std::vector<std::string> expected = q.at("owners");
      std::vector<std::string_view> got = ring.owners(id, 3);
      if (std::vector<std::string>(got.begin(), got.end()) != expected) {
        if (++mismatches <= 5) ADD_FAILURE() << name << ": owners of '" << id << "' changed";
      }
    }
    EXPECT_EQ(mismatches, 0u) << name;
  }
}

}  // namespace
}  // namespace frodo
