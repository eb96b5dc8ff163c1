// The Ring's API contract: validation, empty rings, owners(), checksum, copies.
#include "frodo/ring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "frodo/error.hpp"
#include "ring/ketama.hpp"
#include "ring/maglev.hpp"

namespace frodo {
namespace {

std::vector<Member> servers(int n, int port = 3030) {
  std::vector<Member> members;
  for (int i = 0; i < n; ++i) members.push_back({"10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256) + ":" + std::to_string(port), 1, ""});
  return members;
}

class RingContract : public ::testing::TestWithParam<Algorithm> {};
INSTANTIATE_TEST_SUITE_P(Algorithms, RingContract, ::testing::Values(Algorithm::ketama, Algorithm::maglev),
                         [](const auto& info) { return std::string(to_string(info.param)); });

void expect_invalid(const std::vector<Member>& members, Algorithm algorithm, const std::string& named) {
  try {
    Ring ring(members, algorithm);
    FAIL() << "accepted members naming " << named;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find(named), std::string::npos) << e.what();
  }
}

TEST_P(RingContract, RejectsBadMembersNamingTheValue) {
  expect_invalid({{"nohost", 1, ""}}, GetParam(), "'nohost'");
  expect_invalid({{"a:0", 1, ""}}, GetParam(), "'a:0'");
  expect_invalid({{"a:65536", 1, ""}}, GetParam(), "'a:65536'");
  expect_invalid({{"a:1", 0, ""}}, GetParam(), "bad weight 0");
  expect_invalid({{"a:1", -2, ""}}, GetParam(), "bad weight -2");
  expect_invalid({{"a:1", std::nan(""), ""}}, GetParam(), "'a:1'");
  expect_invalid({{"a:1", std::numeric_limits<double>::infinity(), ""}}, GetParam(), "bad weight inf");
  expect_invalid({{"a:1", 1, ""}, {"b:1", 1, ""}, {"a:1", 2, ""}}, GetParam(), "duplicate address 'a:1'");
  std::vector<Member> too_many;
  for (std::size_t i = 0; i <= Ring::max_members; ++i) too_many.push_back({"h" + std::to_string(i) + ":1", 1, ""});
  expect_invalid(too_many, GetParam(), "too many members: 65536");
}

TEST_P(RingContract, WeightsOutsideTheRangeAreRefusedAndTheBoundsAccepted) {
  // Two weights of 1e308 made the total infinite: every member got 0 points and no owner.
  expect_invalid({{"a:1", 1e308, ""}, {"b:1", 1e308, ""}}, GetParam(), "for 'a:1': must be between 0.001 and 1000000");
  expect_invalid({{"a:1", 1, ""}, {"b:1", 1.8e19, ""}}, GetParam(), "for 'b:1': must be between 0.001 and 1000000");
  expect_invalid({{"a:1", 1e-320, ""}}, GetParam(), "for 'a:1': must be between");
  expect_invalid({{"a:1", std::nextafter(Ring::min_weight, 0.0), ""}}, GetParam(), "for 'a:1'");
  expect_invalid({{"a:1", std::nextafter(Ring::max_weight, 2e6), ""}}, GetParam(), "for 'a:1'");
  Ring ring({{"a:1", Ring::min_weight, ""}, {"b:1", Ring::max_weight, ""}}, GetParam());
  EXPECT_TRUE(ring.owner("x").has_value());
  EXPECT_EQ(ring.members()[1].weight, Ring::max_weight);
}

TEST(Ring, WeightProblemNamesTheRange) {
  for (double good : {Ring::min_weight, 0.5, 1.0, 2.5, Ring::max_weight}) EXPECT_EQ(weight_problem(good), std::nullopt) << good;
  for (double bad : {0.0, -0.0, -1.0, 1e-320, 0.000999, 1000000.5, 1.8e19, 1e308,
                     std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_EQ(weight_problem(bad), "must be between 0.001 and 1000000") << bad;
  }
}

TEST_P(RingContract, EmptyRingHasNoOwner) {
  Ring ring({}, GetParam());
  EXPECT_TRUE(ring.empty());
  EXPECT_EQ(ring.owner("anything"), std::nullopt);
  EXPECT_TRUE(ring.owners("anything", 3).empty());
  EXPECT_TRUE(ring.shares().empty());
  EXPECT_EQ(Ring().owner(""), std::nullopt);
}

TEST_P(RingContract, SingleServerOwnsEverything) {
  Ring ring({{"only:1", 1, ""}}, GetParam());
  for (const std::string& id : std::vector<std::string>{"", "a", "host-42", std::string("\0\xff\n", 3)}) EXPECT_EQ(ring.owner(id), "only:1");
  EXPECT_EQ(ring.owners("x", 5), std::vector<std::string_view>{"only:1"});
  EXPECT_DOUBLE_EQ(ring.shares().at(0), 1.0);
}

TEST_P(RingContract, OwnersAreDistinctAndStartWithOwner) {
  Ring ring(servers(20), GetParam());
  for (int i = 0; i < 2000; ++i) {
    std::string id = "id-" + std::to_string(i);
    for (std::size_t n : {1u, 2u, 3u, 7u, 20u, 25u}) {
      std::vector<std::string_view> owners = ring.owners(id, n);
      ASSERT_EQ(owners.size(), std::min<std::size_t>(n, 20));
      ASSERT_EQ(owners.front(), *ring.owner(id));
      ASSERT_EQ(std::set<std::string_view>(owners.begin(), owners.end()).size(), owners.size());
      // A longer list extends a shorter one: preference order is stable.
      std::vector<std::string_view> first3 = ring.owners(id, 3);
      ASSERT_TRUE(std::equal(first3.begin(), first3.begin() + std::min<std::size_t>(3, owners.size()), owners.begin()));
    }
  }
  EXPECT_TRUE(ring.owners("x", 0).empty());
}

TEST_P(RingContract, AnyBytesAreAnId) {
  Ring ring(servers(5), GetParam());
  std::string all_bytes;
  for (int c = 0; c < 256; ++c) all_bytes.push_back(static_cast<char>(c));
  for (const std::string& id : std::vector<std::string>{std::string(), std::string(1, '\0'), all_bytes, std::string(1 << 20, 'x'), std::string("\xc3\x28")}) {
    ASSERT_TRUE(ring.owner(id).has_value());
    EXPECT_EQ(ring.owner(id), ring.owner(std::string(id)));  // pure function of the bytes
  }
}

TEST_P(RingContract, ChecksumIdentifiesTheMemberList) {
  std::vector<Member> members = servers(10);
  Ring a(members, GetParam());
  std::reverse(members.begin(), members.end());
  Ring b(members, GetParam());
  EXPECT_EQ(a.checksum(), b.checksum());
  EXPECT_EQ(a.checksum_hex().size(), 16u);
  members[3].weight = 2;
  EXPECT_NE(Ring(members, GetParam()).checksum(), a.checksum());
  members[3].weight = 1;
  members[3].zone = "eu-1";
  EXPECT_NE(Ring(members, GetParam()).checksum(), a.checksum());
  members.pop_back();
  EXPECT_NE(Ring(members, GetParam()).checksum(), a.checksum());
  Algorithm other = GetParam() == Algorithm::ketama ? Algorithm::maglev : Algorithm::ketama;
  EXPECT_NE(Ring(servers(10), other).checksum(), a.checksum());
}

TEST_P(RingContract, MembersAreSortedAndCopiesAnswerAlike) {
  std::vector<Member> members = {{"c:1", 1, ""}, {"a:1", 2, "z"}, {"b:1", 1, ""}};
  Ring ring(members, GetParam());
  ASSERT_EQ(ring.size(), 3u);
  EXPECT_EQ(ring.members()[0], (Member{"a:1", 2, "z"}));
  EXPECT_EQ(ring.members()[2].address, "c:1");
  EXPECT_EQ(ring.algorithm(), GetParam());
  Ring copy = ring;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(copy.owner(std::to_string(i)), ring.owner(std::to_string(i)));
  EXPECT_GT(ring.memory_bytes(), 0u);
}

TEST_P(RingContract, SharesSumToOne) {
  for (int n : {1, 2, 10, 333}) {
    std::vector<double> shares = Ring(servers(n), GetParam()).shares();
    double sum = 0;
    for (double s : shares) sum += s;
    EXPECT_NEAR(sum, 1.0, 1e-12) << n;
  }
}

TEST_P(RingContract, MovedShareIsZeroForTheSameMembersAndOneForDisjoint) {
  Ring a(servers(10), GetParam());
  EXPECT_EQ(moved_share(a, Ring(servers(10), GetParam())), 0.0);
  EXPECT_DOUBLE_EQ(moved_share(a, Ring(servers(10, 4000), GetParam())), 1.0);
  EXPECT_EQ(moved_share(Ring({}, GetParam()), Ring({}, GetParam())), 0.0);
  EXPECT_EQ(moved_share(Ring({}, GetParam()), a), 1.0);
}

TEST(Ring, MovedShareRefusesDifferentAlgorithms) {
  EXPECT_THROW(moved_share(Ring(servers(2), Algorithm::ketama), Ring(servers(2), Algorithm::maglev)), Error);
}

TEST(Ring, ParsesAlgorithmNames) {
  EXPECT_EQ(parse_algorithm("ketama"), Algorithm::ketama);
  EXPECT_EQ(parse_algorithm("maglev"), Algorithm::maglev);
  try {
    parse_algorithm("Ketama");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'Ketama'"), std::string::npos);
  }
}

TEST(Ring, EveryAlgorithmHasItsOwnNameAndParsesBack) {
  EXPECT_STREQ(to_string(Algorithm::ketama), "ketama");
  EXPECT_STREQ(to_string(Algorithm::maglev), "maglev");
  // A value from outside the enumeration is not passed off as ketama.
  EXPECT_STREQ(to_string(static_cast<Algorithm>(7)), "unknown");
  for (Algorithm algorithm : {Algorithm::ketama, Algorithm::maglev}) {
    EXPECT_EQ(parse_algorithm(to_string(algorithm)), algorithm);
  }
}

TEST_P(RingContract, KeepsItsAlgorithmEmptyOrNot) {
  EXPECT_EQ(Ring({}, GetParam()).algorithm(), GetParam());
  EXPECT_EQ(Ring(servers(3), GetParam()).algorithm(), GetParam());
}

// The Ring dispatches to the structure of its algorithm: its answers are that structure's,
// built from the members in address order.
TEST_P(RingContract, AnswersAsItsAlgorithmsStructure) {
  std::vector<Member> members = servers(300);
  std::reverse(members.begin(), members.end());
  Ring ring(members, GetParam());
  const std::vector<Member>& sorted = ring.members();
  detail::Ketama ketama(sorted);
  detail::Maglev maglev(sorted);
  for (int i = 0; i < 5000; ++i) {
    std::string id = "dispatch-" + std::to_string(i);
    std::size_t expected = GetParam() == Algorithm::ketama ? ketama.owner(id) : maglev.owner(id);
    ASSERT_EQ(ring.owner_index(id), expected) << id;
    std::vector<std::uint32_t> preference;
    if (GetParam() == Algorithm::ketama) {
      ketama.owners(id, 3, sorted.size(), preference);
    } else {
      maglev.owners(id, 3, sorted.size(), preference);
    }
    std::vector<std::string_view> owners = ring.owners(id, 3);
    ASSERT_EQ(owners.size(), preference.size()) << id;
    for (std::size_t k = 0; k < owners.size(); ++k) EXPECT_EQ(owners[k], sorted[preference[k]].address) << id;
  }
}

TEST(Ring, KetamaIsTheDefault) { EXPECT_EQ(Ring(servers(3)).algorithm(), Algorithm::ketama); }

TEST(Ring, KetamaMemberWithTooSmallAWeightOwnsNothing) {
  // node-hashring floors weight/total * 40 * n: a tiny weight can round down to 0 vnodes.
  Ring ring({{"big:1", 1000, ""}, {"tiny:1", 1, ""}});
  EXPECT_EQ(ring.shares()[1], 0.0);
  EXPECT_EQ(ring.owners("x", 2), std::vector<std::string_view>{"big:1"});
}

TEST(Ring, OwnerIndexIsTheOwnersPlaceInMembers) {
  for (Algorithm algorithm : {Algorithm::ketama, Algorithm::maglev}) {
    Ring ring(servers(7), algorithm);
    for (int i = 0; i < 1000; ++i) {
      std::string id = "id-" + std::to_string(i);
      std::optional<std::size_t> index = ring.owner_index(id);
      ASSERT_TRUE(index.has_value());
      ASSERT_LT(*index, ring.members().size());
      EXPECT_EQ(ring.members()[*index].address, *ring.owner(id)) << to_string(algorithm) << " " << id;
    }
  }
  EXPECT_EQ(Ring().owner_index("x"), std::nullopt);
  // Every vnode rounded away: no owner, as owner() says.
  Ring rounded({{"a:1", 1000000, ""}, {"b:1", 0.001, ""}});
  EXPECT_EQ(rounded.owner_index("x").has_value(), rounded.owner("x").has_value());
}

TEST(Maglev, TableSizeIsAPrimeFromTheLadder) {
  auto is_prime = [](std::uint64_t n) {
    for (std::uint64_t d = 2; d * d <= n; ++d)
      if (n % d == 0) return false;
    return n >= 2;
  };
  EXPECT_EQ(detail::Maglev::table_size_for(1), 65537u);
  EXPECT_EQ(detail::Maglev::table_size_for(655), 65537u);
  EXPECT_EQ(detail::Maglev::table_size_for(656), 131071u);
  EXPECT_EQ(detail::Maglev::table_size_for(1000), 131071u);
  std::uint64_t previous = 0;
  for (std::size_t n : {1u, 100u, 655u, 656u, 1000u, 1310u, 1311u, 5000u, 10000u, 65535u}) {
    std::uint64_t m = detail::Maglev::table_size_for(n);
    EXPECT_TRUE(is_prime(m)) << m;
    EXPECT_GE(m, 100 * n);
    EXPECT_GE(m, previous);
    previous = m;
  }
  // Consecutive sizes within one step keep the same table size.
  EXPECT_EQ(detail::Maglev::table_size_for(700), detail::Maglev::table_size_for(1300));
}

}  // namespace
}  // namespace frodo
