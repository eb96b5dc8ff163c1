// Preference lists: walk a circular array of member indices from `start`, collecting the
// first n distinct members. Both ketama (its continuum) and maglev (its table) use it.
// `Ring` is any sequence with size() and operator[] giving the member index at a place.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace frodo::detail {

template <typename Ring>
void collect_distinct(const Ring& ring, std::size_t start, std::size_t n, std::size_t member_count,
                      std::vector<std::uint32_t>& out) {
  n = std::min(n, member_count);
  if (ring.empty() || n == 0) return;
  // A short list is checked by scanning it; a long one by a table of the members seen.
  std::vector<bool> seen;
  if (n > 8) seen.assign(member_count, false);
  for (std::size_t step = 0; step < ring.size() && out.size() < n; ++step) {
    std::size_t i = start + step;
    if (i >= ring.size()) i -= ring.size();
    std::uint32_t o = ring[i];
    if (n > 8) {
      if (seen[o]) continue;
      seen[o] = true;
    } else if (std::find(out.begin(), out.end(), o) != out.end()) {
      continue;
    }
    out.push_back(o);
  }
}

}  // namespace frodo::detail
