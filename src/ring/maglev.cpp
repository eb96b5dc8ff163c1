#include "maglev.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <utility>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "distinct_walk.hpp"

namespace frodo::detail {
namespace {

constexpr std::uint64_t offset_seed = 0;
constexpr std::uint64_t skip_seed = 1;
constexpr std::uint16_t empty_entry = 0xffff;  // never a member index: Ring::max_members is 65535

bool is_prime(std::uint64_t n) {
  if (n < 2) return false;
  for (std::uint64_t d = 2; d * d <= n; ++d) {
    if (n % d == 0) return false;
  }
  return true;
}

// x^-1 (mod m) for a prime m and 0 < x < m, by the extended Euclidean algorithm.
std::uint32_t inverse_mod(std::uint32_t x, std::uint32_t m) {
  std::int64_t t = 0, next_t = 1;
  std::int64_t r = m, next_r = x;
  while (next_r != 0) {
    const std::int64_t q = r / next_r;
    t = std::exchange(next_t, t - q * next_t);
    r = std::exchange(next_r, r - q * next_r);
  }
  return static_cast<std::uint32_t>(t < 0 ? t + m : t);
}

// The entries below `size` whose bit is clear.
std::vector<std::uint32_t> untaken(const std::vector<std::uint64_t>& taken, std::uint64_t size) {
  std::vector<std::uint32_t> entries;
  for (std::size_t word = 0; word < taken.size(); ++word) {
    for (std::uint64_t bits = ~taken[word]; bits != 0; bits &= bits - 1) {
      const std::uint64_t e = word * 64 + static_cast<std::uint64_t>(std::countr_zero(bits));
      if (e < size) entries.push_back(static_cast<std::uint32_t>(e));
    }
  }
  return entries;
}

}  // namespace

std::uint64_t Maglev::hash(std::string_view id) noexcept { return XXH3_64bits(id.data(), id.size()); }

std::uint64_t Maglev::table_size_for(std::size_t members) noexcept {
  // Sizes come from a fixed ladder (65537, then the largest prime below each power of two
  // from 2^17 up) rather than the next prime above 100 * members: a new table size
  // reshuffles every entry, so it must change only when the member count crosses a
  // ladder step (655, 1310, 2621... members), not on every join.
  const std::uint64_t needed = entries_per_member * members;
  if (needed <= min_table_size) return min_table_size;
  std::uint64_t power = std::uint64_t{1} << 17;
  while (power - 1 < needed) power <<= 1;
  std::uint64_t m = power - 1;
  while (!is_prime(m)) --m;
  if (m < needed) {  // no prime in [needed, power): go one step up
    m = (power << 1) - 1;
    while (!is_prime(m)) --m;
  }
  return m;
}

Maglev::Maglev(const std::vector<Member>& members) {
  if (members.empty()) return;
  const std::uint64_t size = table_size_for(members.size());
  const std::size_t n = members.size();

  // Each member walks its own permutation of the table, offset + j * skip (mod M); M prime
  // and 1 <= skip < M make every walk visit every entry. M < 2^32 (at most 100 * 65535
  // entries, rounded up to a prime of the ladder), so positions fit 32 bits.
  struct Walk {
    std::uint32_t next;  // the next entry this member tries
    std::uint32_t skip;
  };
  std::vector<Walk> walks(n);
  double max_weight = 0;
  for (const Member& m : members) max_weight = std::max(max_weight, m.weight);
  bool equal_weights = true;
  std::vector<double> rate(n), credit(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& a = members[i].address;
    walks[i].next = static_cast<std::uint32_t>(XXH3_64bits_withSeed(a.data(), a.size(), offset_seed) % size);
    walks[i].skip = static_cast<std::uint32_t>(XXH3_64bits_withSeed(a.data(), a.size(), skip_seed) % (size - 1) + 1);
    rate[i] = members[i].weight / max_weight;
    equal_weights = equal_weights && rate[i] == 1.0;
  }

  // Which entries are taken lives in a bitset (16 KiB at M = 131071, so it stays in L1
  // cache): the probing below reads it far more often than it writes the table.
  std::vector<std::uint16_t> table(size, empty_entry);
  std::vector<std::uint64_t> taken((size + 63) / 64, 0);
  const auto m32 = static_cast<std::uint32_t>(size);
  // The last entries are the expensive ones: with k entries left a walk probes about M / k
  // taken entries before it finds one, so probing the last sqrt(M) entries would cost
  // M (ln sqrt(M) + 0.58) probes, over half of the whole fill (7.6 of 11.6 million probes at
  // 10,000 members). From there on the free entries are kept in a list instead, and a
  // member's next free entry is the one its walk reaches first: entry e is step
  // (e - next) * skip^-1 (mod M) of the walk, so one multiplication per free entry, about
  // M / 2 in all (see docs/ring.md).
  const std::uint64_t tail = std::min<std::uint64_t>(size, static_cast<std::uint64_t>(std::sqrt(static_cast<double>(size))));
  std::vector<std::uint32_t> free_entries;  // filled when `tail` entries are left
  std::vector<std::uint32_t> inverse(n, 0);   // skip^-1 (mod M) per member, once it is needed
  std::uint64_t filled = 0;
  // Member i claims the next entry of its permutation that nobody holds.
  auto claim = [&](std::size_t i) {
    Walk& w = walks[i];
    std::uint32_t c = w.next;
    if (size - filled > tail) {
      while ((taken[c >> 6] >> (c & 63)) & 1) {
        c += w.skip;
        if (c >= m32) c -= m32;
      }
      taken[c >> 6] |= std::uint64_t{1} << (c & 63);
    } else {
      if (free_entries.empty()) free_entries = untaken(taken, size);
      if (inverse[i] == 0) inverse[i] = inverse_mod(w.skip, m32);
      std::size_t first = 0;
      std::uint64_t first_step = size;
      for (std::size_t k = 0; k < free_entries.size(); ++k) {
        const std::uint32_t e = free_entries[k];
        const std::uint64_t distance = e >= c ? e - c : e + m32 - c;
        const std::uint64_t step = distance * inverse[i] % size;
        if (step < first_step) {
          first_step = step;
          first = k;
        }
      }
      c = free_entries[first];
      free_entries[first] = free_entries.back();
      free_entries.pop_back();
    }
    table[c] = static_cast<std::uint16_t>(i);
    c += w.skip;
    if (c >= m32) c -= m32;
    w.next = c;
    ++filled;
  };

  // The paper's round-robin fill, weighted: each round a member earns weight/max_weight
  // credit and claims one entry per whole credit, so with equal weights every member
  // claims one entry per round (the unweighted algorithm) and entry counts stay
  // proportional to weight. Equal weights take the unweighted loop, which claims the same
  // entries in the same order without the credit arithmetic.
  if (equal_weights) {
    while (filled < size) {
      for (std::size_t i = 0; i < n && filled < size; ++i) claim(i);
    }
  } else {
    while (filled < size) {
      for (std::size_t i = 0; i < n && filled < size; ++i) {
        credit[i] += rate[i];
        while (credit[i] >= 1.0 && filled < size) {
          credit[i] -= 1.0;
          claim(i);
        }
      }
    }
  }
  table_ = PackedIndices(table, n);
}

void Maglev::owners(std::string_view id, std::size_t n, std::size_t member_count,
                    std::vector<std::uint32_t>& out) const {
  if (table_.empty()) return;
  collect_distinct(table_, slot(hash(id)), n, member_count, out);
}

SegmentMap Maglev::segments() const {
  // Entry i owns the hashes h with floor(h * M / 2^64) == i: [ceil(i 2^64 / M), ceil((i+1) 2^64 / M)).
  SegmentMap map;
  map.space = u128{1} << 64;
  const u128 m = table_.size();
  if (table_.empty()) return map;
  map.segments.reserve(table_.size());
  // (i + 1) 2^64 = (i + 1) (q m + r) with q, r = 2^64 divided by m: the quotient and the
  // remainder of (i + 1) 2^64 / m are carried from one entry to the next without a division.
  const u128 q = (u128{1} << 64) / m, r = (u128{1} << 64) % m;
  u128 quotient = 0, remainder = 0;
  for (std::size_t i = 0; i < table_.size(); ++i) {
    quotient += q;
    remainder += r;
    if (remainder >= m) {
      remainder -= m;
      ++quotient;
    }
    const u128 end = quotient + (remainder != 0 ? 1 : 0);  // ceil((i + 1) 2^64 / m)
    if (!map.segments.empty() && map.segments.back().owner == table_[i]) {
      map.segments.back().end = end;
    } else {
      map.segments.push_back({end, table_[i]});
    }
  }
  return map;
}

}  // namespace frodo::detail
