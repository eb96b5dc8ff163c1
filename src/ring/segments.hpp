// A ring seen as consecutive segments of its id hash space, each owned by one member.
// Used for exact shares and for the exact share of ids that move between two rings.
#pragma once

#include <cstdint>
#include <vector>

namespace frodo::detail {

__extension__ typedef unsigned __int128 u128;

struct Segment {
  u128 end;             // exclusive; the next segment starts here; the last ends at the space size
  std::uint32_t owner;  // index into the ring's members
};

struct SegmentMap {
  u128 space = 0;  // size of the hash space: 2^32 (ketama) or 2^64 (maglev)
  std::vector<Segment> segments;
};

}  // namespace frodo::detail
