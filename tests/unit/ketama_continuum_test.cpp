// The ketama continuum's bucketed, packed search against the plain definition: the owner of
// a hash is the owner of the first point >= the hash in the sorted points (std::lower_bound),
// wrapping to the first point past the last one. (That is node-hashring's rule, so a hash
// equal to a point belongs to that point; the vectors test pins it against node itself.)
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "frodo/error.hpp"
#include "frodo/ring.hpp"
#include "ring/continuum.hpp"
#include "ring/ketama.hpp"
#include "ring/md5.hpp"

namespace frodo {
namespace {

// The reference: sorted (point, owner) pairs and the plain search over them.
struct Reference {
  std::vector<std::uint32_t> points;
  std::vector<std::uint32_t> owners;

  explicit Reference(std::vector<std::uint64_t> entries) {  // point << 16 | owner
    std::sort(entries.begin(), entries.end());
    for (std::uint64_t e : entries) {
      points.push_back(static_cast<std::uint32_t>(e >> 16));
      owners.push_back(static_cast<std::uint32_t>(e & 0xffff));
    }
  }
  std::size_t position(std::uint32_t h) const {
    std::size_t i = std::lower_bound(points.begin(), points.end(), h) - points.begin();
    return i == points.size() ? 0 : i;
  }
};

// Hashes worth asking: every point and its neighbours, both ends of the space, and random.
std::vector<std::uint32_t> probes(const Reference& ref, std::mt19937_64& rng) {
  std::vector<std::uint32_t> hashes = {0, 1, 0xffffffffu, 0xfffffffeu, 0x80000000u};
  for (std::uint32_t p : ref.points) {
    hashes.push_back(p);
    hashes.push_back(p - 1);  // wraps to 0xffffffff for a point at 0
    hashes.push_back(p + 1);  // wraps to 0 for a point at 0xffffffff
  }
  for (int i = 0; i < 5000; ++i) hashes.push_back(static_cast<std::uint32_t>(rng()));
  return hashes;
}

void expect_same_search(const detail::Continuum& c, const Reference& ref, std::mt19937_64& rng,
                        const std::string& what) {
  ASSERT_EQ(c.size(), ref.points.size()) << what;
  for (std::size_t i = 0; i < ref.points.size(); ++i) {
    ASSERT_EQ(c.point_at(i), ref.points[i]) << what << " point " << i;
    ASSERT_EQ(c.owner_at(i), ref.owners[i]) << what << " point " << i;
  }
  if (ref.points.empty()) return;
  for (std::uint32_t h : probes(ref, rng)) {
    ASSERT_EQ(c.position(h), ref.position(h)) << what << " hash " << h;
  }
}

// A random continuum's entries (point << 16 | owner, unsorted) for test round `round`: up to
// 65536 owners and 3,000 points, uniform or crowded into a narrow range (long buckets, many
// equal points), with points at both ends of the space.
struct RandomEntries {
  std::size_t member_count;
  std::vector<std::uint64_t> entries;
};
RandomEntries random_entries(std::mt19937_64& rng, int round) {
  RandomEntries r;
  r.member_count = round % 3 == 0 ? 65536 : 1 + rng() % 2000;
  const std::size_t point_count = rng() % 3000;
  const bool crowded = round % 2 == 1;
  const std::uint32_t base = static_cast<std::uint32_t>(rng());
  for (std::size_t i = 0; i < point_count; ++i) {
    std::uint32_t point = crowded ? base + static_cast<std::uint32_t>(rng() % 5000) : static_cast<std::uint32_t>(rng());
    if (i % 97 == 1) point = 0;
    if (i % 89 == 2) point = 0xffffffffu;
    r.entries.push_back(std::uint64_t{point} << 16 | rng() % r.member_count);
  }
  return r;
}

TEST(KetamaContinuum, SearchIsLowerBoundWithWrapOnRandomContinua) {
  std::mt19937_64 rng(13);
  for (int round = 0; round < 300; ++round) {
    auto [member_count, entries] = random_entries(rng, round);
    Reference ref(entries);
    std::sort(entries.begin(), entries.end());
    detail::Continuum c(entries, member_count);
    expect_same_search(c, ref, rng, "round " + std::to_string(round));
  }
}

// build_unsorted (points in any order, placed straight into their buckets) gives the same
// continuum as the sorted build, crowded buckets (sorted by std::sort past 16 words) and
// equal points included.
TEST(KetamaContinuum, UnsortedBuildIsTheSortedOne) {
  std::mt19937_64 rng(31);
  for (int round = 0; round < 200; ++round) {
    auto [member_count, entries] = random_entries(rng, round);
    std::shuffle(entries.begin(), entries.end(), rng);
    const detail::Continuum c = detail::Continuum::build_unsorted(entries.size(), member_count, [&](auto push) {
      for (std::uint64_t e : entries) push(static_cast<std::uint32_t>(e >> 16), static_cast<std::uint32_t>(e & 0xffff));
    });
    expect_same_search(c, Reference(entries), rng, "round " + std::to_string(round));
  }
}

// A caller whose count does not match its points gets an error, and nothing is written past
// the continuum (ASan would see it).
TEST(KetamaContinuum, AMiscountedBuildOrMergeIsAnError) {
  const std::vector<std::uint64_t> entries = {std::uint64_t{10} << 16 | 0, std::uint64_t{20} << 16 | 1,
                                              std::uint64_t{30} << 16 | 0};
  auto emit_all = [&](auto push) {
    for (std::uint64_t e : entries) push(static_cast<std::uint32_t>(e >> 16), static_cast<std::uint32_t>(e & 0xffff));
  };
  for (std::size_t count : {0, 2, 4}) {
    EXPECT_THROW(detail::Continuum::build(count, 2, emit_all), Error) << count;
    EXPECT_THROW(detail::Continuum::build_unsorted(count, 2, emit_all), Error) << count;
  }
  const detail::Continuum before(entries, 2);
  const std::vector<std::uint16_t> same = {0, 1};
  // A removed entry that is not in `before`: one point more than counted would be written.
  EXPECT_THROW(detail::Continuum::merge(before, same, {std::uint64_t{15} << 16 | 0}, {}, 2, 2), Error);
  // Too many or too few counted.
  EXPECT_THROW(detail::Continuum::merge(before, same, {}, {std::uint64_t{25} << 16 | 1}, 3, 2), Error);
  EXPECT_THROW(detail::Continuum::merge(before, same, {}, {}, 4, 2), Error);
  EXPECT_EQ(detail::Continuum::merge(before, same, {}, {std::uint64_t{25} << 16 | 1}, 4, 2).size(), 4u);
}

TEST(KetamaContinuum, SmallContinua) {
  std::mt19937_64 rng(7);
  // One point, one member: the bucket index has a single bucket.
  for (std::uint32_t p : {0u, 1u, 0x7fffffffu, 0xffffffffu}) {
    std::vector<std::uint64_t> one = {std::uint64_t{p} << 16};
    detail::Continuum c(one, 1);
    expect_same_search(c, Reference(one), rng, "single point " + std::to_string(p));
  }
  // Equal points of several owners: the lowest owner answers for them.
  std::vector<std::uint64_t> equal = {std::uint64_t{500} << 16 | 2, std::uint64_t{500} << 16 | 3,
                                      std::uint64_t{900} << 16 | 0, std::uint64_t{900} << 16 | 1};
  detail::Continuum c(equal, 4);
  expect_same_search(c, Reference(equal), rng, "equal points");
  EXPECT_EQ(c.owner_at(c.position(500)), 2u);
  EXPECT_EQ(c.owner_at(c.position(501)), 0u);
  EXPECT_EQ(c.owner_at(c.position(901)), 2u);  // past the last point: wraps to the first
}

// Random rings through Ketama itself: the points are node-hashring's (recomputed here from
// MD5 directly), and the owner of any hash is the lower_bound one.
TEST(KetamaContinuum, RandomRingsAnswerAsThePlainSearch) {
  std::mt19937_64 rng(2024);
  for (int round = 0; round < 12; ++round) {
    const std::size_t n = 1 + rng() % 400;
    std::set<std::string> addresses;
    while (addresses.size() < n) {
      addresses.insert("10." + std::to_string(rng() % 256) + "." + std::to_string(rng() % 256) + "." +
                       std::to_string(1 + rng() % 250) + ":" + std::to_string(1 + rng() % 65535));
    }
    std::vector<Member> members;  // std::set: already in address order
    for (const std::string& a : addresses) {
      double weight = round % 2 == 0 ? 1.0 : 0.5 + static_cast<double>(rng() % 1000) / 100.0;
      members.push_back({a, weight, ""});
    }
    double total = 0;
    for (const Member& m : members) total += m.weight;
    std::vector<std::uint64_t> entries;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint32_t vnodes = detail::Ketama::vnodes_for(members[i].weight, total, n);
      for (std::uint32_t v = 0; v < vnodes; ++v) {
        detail::Md5Digest d = detail::md5(members[i].address + "-" + std::to_string(v));
        for (int g = 0; g < 4; ++g) entries.push_back(std::uint64_t{detail::md5_point(d, g)} << 16 | i);
      }
    }
    Reference ref(entries);
    detail::Ketama ketama(members);
    const std::string what = "ring of " + std::to_string(n);
    expect_same_search(ketama.continuum(), ref, rng, what);
    for (std::uint32_t h : probes(ref, rng)) {
      ASSERT_EQ(ketama.owner_of_hash(h), ref.owners[ref.position(h)]) << what << " hash " << h;
    }
    for (int i = 0; i < 2000; ++i) {
      std::string id = "id-" + std::to_string(rng());
      ASSERT_EQ(ketama.owner(id), ref.owners[ref.position(detail::Ketama::hash(id))]) << what << " " << id;
    }
  }
}

}  // namespace
}  // namespace frodo
