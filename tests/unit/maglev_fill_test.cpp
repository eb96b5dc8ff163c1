// Maglev's fill (src/ring/maglev.cpp, which takes shortcuts: an unweighted loop for equal
// weights, walks kept in 32 bits, and the last sqrt(M) entries found from a list of the free
// ones instead of by probing; 10,000 members is the largest table, M = 1,048,573) against the plain weighted round robin of
// docs/ring.md, written here as directly as possible: the same table, entry by entry, for
// equal and mixed weights and several sizes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "frodo/ring.hpp"
#include "ring/maglev.hpp"

namespace frodo {
namespace {

std::vector<std::uint32_t> plain_fill(const std::vector<Member>& members) {
  const std::uint64_t m = detail::Maglev::table_size_for(members.size());
  const std::size_t n = members.size();
  std::vector<std::uint64_t> next(n), skip(n);
  std::vector<double> rate(n), credit(n, 0.0);
  double max_weight = 0;
  for (const Member& member : members) max_weight = std::max(max_weight, member.weight);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& a = members[i].address;
    next[i] = XXH3_64bits_withSeed(a.data(), a.size(), 0) % m;
    skip[i] = XXH3_64bits_withSeed(a.data(), a.size(), 1) % (m - 1) + 1;
    rate[i] = members[i].weight / max_weight;
  }
  constexpr std::uint32_t none = 0xffffffff;
  std::vector<std::uint32_t> table(m, none);
  std::uint64_t filled = 0;
  while (filled < m) {
    for (std::size_t i = 0; i < n && filled < m; ++i) {
      credit[i] += rate[i];
      while (credit[i] >= 1.0 && filled < m) {
        credit[i] -= 1.0;
        while (table[next[i]] != none) next[i] = (next[i] + skip[i]) % m;
        table[next[i]] = static_cast<std::uint32_t>(i);
        next[i] = (next[i] + skip[i]) % m;
        ++filled;
      }
    }
  }
  return table;
}

// The owner of each entry, read back through segments() (an entry is one interval of the
// hash space, merged with its neighbours of the same owner).
std::vector<std::uint32_t> entries_of(const detail::Maglev& maglev) {
  const detail::SegmentMap map = maglev.segments();
  const auto m = static_cast<detail::u128>(maglev.table_size());
  std::vector<std::uint32_t> table;
  table.reserve(maglev.table_size());
  for (const detail::Segment& segment : map.segments) {
    // Entries i with ceil((i + 1) 2^64 / m) <= segment.end belong to this segment.
    while (table.size() < maglev.table_size() &&
           ((static_cast<detail::u128>(table.size() + 1) << 64) + m - 1) / m <= segment.end) {
      table.push_back(segment.owner);
    }
  }
  return table;
}

TEST(MaglevFill, TableIsThePlainWeightedRoundRobin) {
  std::mt19937 rng(17);
  for (std::size_t n : {1, 2, 3, 50, 300, 656, 1400, 10000}) {
    for (int weighted = 0; weighted < 2; ++weighted) {
      std::vector<Member> members;
      for (std::size_t i = 0; i < n; ++i) {
        double weight = 1;
        if (weighted) weight = std::vector<double>{1, 2, 0.5, 7.25, 0.001, 30}[rng() % 6];
        members.push_back({"10." + std::to_string(2 + i / 40000) + "." + std::to_string(i / 200 % 200) + "." + std::to_string(i % 200 + 1) + ":80", weight, ""});
      }
      std::sort(members.begin(), members.end(), [](const Member& a, const Member& b) { return a.address < b.address; });
      const detail::Maglev maglev(members);
      ASSERT_EQ(entries_of(maglev), plain_fill(members)) << n << " members, weighted " << weighted;
    }
  }
}

}  // namespace
}  // namespace frodo
