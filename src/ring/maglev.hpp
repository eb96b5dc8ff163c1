// The Maglev lookup table (Eisenbud et al., "Maglev: A Fast and Reliable Software Network
// Load Balancer", NSDI 2016, section 3.4), with weights.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "frodo/ring.hpp"
#include "packed_indices.hpp"
#include "segments.hpp"

namespace frodo::detail {

class Maglev {
 public:
  static constexpr Algorithm algorithm = Algorithm::maglev;
  static constexpr std::uint64_t min_table_size = 65537;
  static constexpr std::uint64_t entries_per_member = 100;

  Maglev() = default;
  // `members` sorted by address.
  explicit Maglev(const std::vector<Member>& members);
  // The table of the next ring (RingTable's common member): built afresh, since Maglev's fill
  // is global (one member more changes which entries everyone claims); see the constructor
  // for what makes that fast.
  Maglev next(const std::vector<Member>&, const std::vector<Member>& members) const { return Maglev(members); }

  std::uint32_t owner(std::string_view id) const noexcept { return table_[slot(hash(id))]; }
  // Appends up to n distinct member indices: the owner, then the owners of the following
  // table entries in order, skipping repeats.
  void owners(std::string_view id, std::size_t n, std::size_t member_count, std::vector<std::uint32_t>& out) const;

  bool empty() const noexcept { return table_.empty(); }
  std::uint64_t table_size() const noexcept { return table_.size(); }
  SegmentMap segments() const;
  std::size_t memory_bytes() const noexcept { return table_.memory_bytes(); }
  // Nothing is kept between rings.
  std::size_t shared_bytes() const noexcept { return 0; }

  static std::uint64_t hash(std::string_view id) noexcept;
  // A prime >= max(min_table_size, entries_per_member * members), from a fixed ladder.
  static std::uint64_t table_size_for(std::size_t members) noexcept;

 private:
  // Maps a 64-bit hash onto the table by multiply-shift (Lemire's fast range reduction):
  // each entry then owns one contiguous interval of the hash space, and no division is
  // needed on the lookup path.
  std::size_t slot(std::uint64_t h) const noexcept {
    return static_cast<std::size_t>((static_cast<u128>(h) * table_.size()) >> 64);
  }

  PackedIndices table_;  // member index per entry, at the fewest bits the member count needs
};

}  // namespace frodo::detail
