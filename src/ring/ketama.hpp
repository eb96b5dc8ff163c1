// The ketama continuum exactly as node-hashring 3.2.0 builds it with default options.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "continuum.hpp"
#include "frodo/ring.hpp"
#include "ketama_points.hpp"
#include "segments.hpp"

namespace frodo::detail {

class Ketama {
 public:
  static constexpr Algorithm algorithm = Algorithm::ketama;
  static constexpr int vnodes_per_server = 40;
  static constexpr int points_per_vnode = 4;

  Ketama() = default;
  // `members` sorted by address (equal points are then ordered by address). Hashes every
  // vnode and keeps no points for a next ring.
  explicit Ketama(const std::vector<Member>& members);
  // The same continuum as Ketama(members), built from `before`, the ring of
  // `before_members` (both lists sorted by address): if `before` kept its points (it was
  // built by this constructor), only the points that the change adds or removes are hashed
  // (or taken from the kept lists), sorted, and merged into before's continuum in one
  // linear pass that also renumbers the members; otherwise every member is hashed. Keeps
  // every member's points (KetamaPoints), sharing the unchanged lists with `before`.
  Ketama(const Ketama& before, const std::vector<Member>& before_members, const std::vector<Member>& members);
  // The table of the next ring (RingTable's common member): the constructor above.
  Ketama next(const std::vector<Member>& before_members, const std::vector<Member>& members) const {
    return Ketama(*this, before_members, members);
  }

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
  // The continuum and this ring's pointers to the kept point lists.
  std::size_t memory_bytes() const noexcept { return continuum_.memory_bytes() + points_.own_bytes(); }
  // The kept point lists themselves, shared with the rings built before and after this one.
  std::size_t shared_bytes() const noexcept { return points_.shared_bytes(); }

  static std::uint32_t hash(std::string_view id) noexcept;
  // Vnodes node-hashring gives a member: floor(weight / total * 40 * count) in IEEE double.
  static std::uint32_t vnodes_for(double weight, double total_weight, std::size_t member_count) noexcept;

 private:
  // Whether points_ holds the lists of the `member_count` members this ring was built from.
  bool kept_points(std::size_t member_count) const noexcept { return points_.size() == member_count; }

  Continuum continuum_;
  KetamaPoints points_;  // empty when built from scratch (and for no members)
};

}  // namespace frodo::detail
