#pragma once

#include <cstdint>
#include <variant>
#include <vector>

#include "frodo/ring.hpp"
#include "ketama.hpp"
#include "maglev.hpp"

namespace frodo::detail {

// The lookup structure of one algorithm. Every alternative offers the same members (owner,
// owners, empty, segments, memory_bytes, shared_bytes, next, and a static `algorithm`), and
// code that needs the
// structure calls them through std::visit: no virtual call on the lookup path, and an
// alternative that lacks one of them does not compile. ring.cpp builds the alternative
// from an Algorithm with a switch that has no default (compiled with -Werror=switch), so a
// new enumerator does not compile until it has a structure.
using RingTable = std::variant<Ketama, Maglev>;

// What a Ring shares between its copies.
// Invariant: `table` was built from exactly `members`, and `checksum` is that of the
// table's algorithm and `members`; none of them changes after the Ring is built.
struct RingState {
  std::vector<Member> members;  // sorted by address; tables hold indices into it
  std::uint64_t checksum = 0;
  RingTable table;

  Algorithm algorithm() const noexcept {
    return std::visit([](const auto& t) { return std::decay_t<decltype(t)>::algorithm; }, table);
  }
  SegmentMap segments() const {
    return std::visit([](const auto& t) { return t.segments(); }, table);
  }
};

}  // namespace frodo::detail
