// Maglev's fill as it was before the free-entry list (src/ring/maglev.cpp): every claim probes
// its member's permutation until it meets an untaken entry, down to the last entry. Kept so
// that one run of frodo_ring_bench times the old and the new fill side by side
// (maglev_fill_old_vs_new). Equal weights only, the case the bench builds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "frodo/ring.hpp"
#include "ring/maglev.hpp"
#include "ring/packed_indices.hpp"

namespace frodo::bench {

class MaglevBaseline {
 public:
  // `members` sorted by address, all of weight 1.
  explicit MaglevBaseline(const std::vector<Member>& members) {
    const std::uint64_t size = detail::Maglev::table_size_for(members.size());
    const std::size_t n = members.size();
    struct Walk {
      std::uint32_t next, skip;
    };
    std::vector<Walk> walks(n);
    for (std::size_t i = 0; i < n; ++i) {
      const std::string& a = members[i].address;
      walks[i].next = static_cast<std::uint32_t>(XXH3_64bits_withSeed(a.data(), a.size(), 0) % size);
      walks[i].skip = static_cast<std::uint32_t>(XXH3_64bits_withSeed(a.data(), a.size(), 1) % (size - 1) + 1);
    }
    std::vector<std::uint16_t> table(size, 0xffff);
    std::vector<std::uint64_t> taken((size + 63) / 64, 0);
    const auto m32 = static_cast<std::uint32_t>(size);
    std::uint64_t filled = 0;
    while (filled < size) {
      for (std::size_t i = 0; i < n && filled < size; ++i, ++filled) {
        Walk& w = walks[i];
        std::uint32_t c = w.next;
        while ((taken[c >> 6] >> (c & 63)) & 1) {
          c += w.skip;
          if (c >= m32) c -= m32;
        }
        taken[c >> 6] |= std::uint64_t{1} << (c & 63);
        table[c] = static_cast<std::uint16_t>(i);
        c += w.skip;
        if (c >= m32) c -= m32;
        w.next = c;
      }
    }
    table_ = detail::PackedIndices(table, n);
  }

  // The owner of the id with Maglev hash h (same slot mapping as detail::Maglev).
  std::uint32_t owner_of_hash(std::uint64_t h) const noexcept {
    return table_[static_cast<std::size_t>((static_cast<detail::u128>(h) * table_.size()) >> 64)];
  }

 private:
  detail::PackedIndices table_;
};

}  // namespace frodo::bench
