// The ketama continuum exactly as node-hashring 3.2.0 builds it with default options.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "frodo/ring.hpp"
#include "segments.hpp"

namespace frodo::detail {

class Ketama {
 public:
  static constexpr Algorithm algorithm = Algorithm::ketama;
  static constexpr int vnodes_per_server = 40;
  static constexpr int points_per_vnode = 4;

  Ketama() = default;
  // `members` sorted by address (equal points are then ordered by address).
  explicit Ketama(const std::vector<Member>& members);

  // Index of the owner of `id`; the ring must not be empty.
  std::uint32_t owner(std::string_view id) const noexcept { return owner_[position(hash(id))]; }
  // Appends up to n distinct member indices in preference order to `out`.
  void owners(std::string_view id, std::size_t n, std::size_t member_count, std::vector<std::uint32_t>& out) const;

  bool empty() const noexcept { return points_.empty(); }
  std::size_t point_count() const noexcept { return points_.size(); }
  SegmentMap segments() const;
  std::size_t memory_bytes() const noexcept;

  static std::uint32_t hash(std::string_view id) noexcept;
  // Vnodes node-hashring gives a member: floor(weight / total * 40 * count) in IEEE double.
  static std::uint32_t vnodes_for(double weight, double total_weight, std::size_t member_count) noexcept;

 private:
  // First point >= h, wrapping to 0 past the last point.
  std::size_t position(std::uint32_t h) const noexcept;

  std::vector<std::uint32_t> points_;        // sorted
  std::vector<std::uint16_t> owner_;         // owner_[i] owns points_[i]
  std::vector<std::uint32_t> bucket_start_;  // first point index >= (b << shift_), plus points_.size()
  int shift_ = 32;
};

}  // namespace frodo::detail
