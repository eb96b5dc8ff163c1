// The ketama continuum exactly as node-hashring 3.2.0 builds it with default options.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "continuum.hpp"
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
  std::uint32_t owner(std::string_view id) const noexcept { return owner_of_hash(hash(id)); }
  // Index of the owner of the first point >= h, wrapping; the ring must not be empty.
  std::uint32_t owner_of_hash(std::uint32_t h) const noexcept { return continuum_.owner_at(continuum_.position(h)); }
  // Appends up to n distinct member indices in preference order to `out`.
  void owners(std::string_view id, std::size_t n, std::size_t member_count, std::vector<std::uint32_t>& out) const;

  bool empty() const noexcept { return continuum_.empty(); }
  std::size_t point_count() const noexcept { return continuum_.size(); }
  // The points in ascending order, with their owners (equal points ordered by owner).
  const Continuum& continuum() const noexcept { return continuum_; }
  SegmentMap segments() const;
  std::size_t memory_bytes() const noexcept { return continuum_.memory_bytes(); }

  static std::uint32_t hash(std::string_view id) noexcept;
  // Vnodes node-hashring gives a member: floor(weight / total * 40 * count) in IEEE double.
  static std::uint32_t vnodes_for(double weight, double total_weight, std::size_t member_count) noexcept;

 private:
  Continuum continuum_;
};

}  // namespace frodo::detail
