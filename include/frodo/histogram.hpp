// Histogram: a distribution of durations as read from a Cluster or a Guard (their stats()).
// A plain value: copied out, owned by the caller, safe to keep and pass between threads.
#pragma once

#include <cstdint>
#include <vector>

namespace frodo {

struct Histogram {
  // Upper bounds of the buckets in seconds, ascending; a last bucket without a bound
  // (+Inf) follows them.
  std::vector<double> bounds;
  // How many observations fell in each bucket (not cumulative): bounds.size() + 1 entries.
  std::vector<std::uint64_t> counts;
  std::uint64_t count = 0;  // all observations
  double sum = 0;           // their sum, in seconds
};

}  // namespace frodo
