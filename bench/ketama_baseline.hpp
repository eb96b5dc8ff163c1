// The ketama search as it was before the packed continuum (src/ring/continuum.hpp), kept so
// that one run of frodo_ring_bench times the old and the new layout side by side.
//
// Old layout: three arrays read per lookup. points_ (sorted uint32), owner_ (uint16, parallel
// to points_), and bucket_start_ (first point index per bucket of the top bits, about four
// points per bucket), then std::lower_bound within the bucket.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "ring/continuum.hpp"

namespace frodo::bench {

class KetamaBaseline {
 public:
  // The same points and owners as `c`, in the old layout.
  explicit KetamaBaseline(const detail::Continuum& c) {
    points_.resize(c.size());
    owner_.resize(c.size());
    for (std::size_t i = 0; i < c.size(); ++i) {
      points_[i] = c.point_at(i);
      owner_[i] = static_cast<std::uint16_t>(c.owner_at(i));
    }
    int bits = 0;
    while (bits < 24 && (std::size_t{1} << (bits + 2)) < points_.size()) ++bits;
    shift_ = 32 - bits;
    std::size_t buckets = std::size_t{1} << bits;
    bucket_start_.resize(buckets + 1);
    std::size_t p = 0;
    for (std::size_t b = 0; b < buckets; ++b) {
      std::uint64_t low = std::uint64_t{b} << shift_;
      while (p < points_.size() && points_[p] < low) ++p;
      bucket_start_[b] = static_cast<std::uint32_t>(p);
    }
    bucket_start_[buckets] = static_cast<std::uint32_t>(points_.size());
  }

  std::uint32_t owner_of_hash(std::uint32_t h) const noexcept { return owner_[position(h)]; }

  std::size_t memory_bytes() const noexcept {
    return points_.capacity() * sizeof(std::uint32_t) + owner_.capacity() * sizeof(std::uint16_t) +
           bucket_start_.capacity() * sizeof(std::uint32_t);
  }

 private:
  // Verbatim the old Ketama::position: first point >= h, wrapping to 0.
  std::size_t position(std::uint32_t h) const noexcept {
    std::size_t b = std::uint64_t{h} >> shift_;
    auto first = points_.begin() + bucket_start_[b];
    auto last = points_.begin() + bucket_start_[b + 1];
    std::size_t i = std::lower_bound(first, last, h) - points_.begin();
    return i == points_.size() ? 0 : i;
  }

  std::vector<std::uint32_t> points_;
  std::vector<std::uint16_t> owner_;
  std::vector<std::uint32_t> bucket_start_;
  int shift_ = 32;
};

}  // namespace frodo::bench
