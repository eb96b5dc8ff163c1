#pragma once

#include <cstdint>
#include <vector>

#include "frodo/ring.hpp"
#include "ketama.hpp"
#include "maglev.hpp"

namespace frodo::detail {

// What a Ring shares between its copies. Only the table of `algorithm` is built.
struct RingState {
  Algorithm algorithm = Algorithm::ketama;
  std::vector<Member> members;  // sorted by address
  std::uint64_t checksum = 0;
  Ketama ketama;
  Maglev maglev;

  SegmentMap segments() const {
    return algorithm == Algorithm::ketama ? ketama.segments() : maglev.segments();
  }
};

}  // namespace frodo::detail
