// Every member's ketama points, kept from one ring to the next so that a membership change
// hashes only what it adds: MD5 runs once per server and vnode, not once per view.
//
// A member's list holds its points in vnode order: entries 4v..4v+3 are the four points of
// MD5("ADDRESS-v") (md5_point groups 0-3). A list may hold more vnodes than the member
// currently has (its count can shrink when another member joins or a weight changes); its
// first 4 * vnodes entries are then its points, since a shorter vnode list is a prefix of a
// longer one.
//
// Lists are immutable once built and shared (shared_ptr) between the KetamaPoints of
// consecutive rings; a KetamaPoints itself is immutable once its ring is built, so rings on
// any threads may read and share them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace frodo::detail {

using PointList = std::vector<std::uint32_t>;

class KetamaPoints {
 public:
  std::size_t size() const noexcept { return lists_.size(); }
  void reserve(std::size_t members) { lists_.reserve(members); }

  // The list of member i (in members' address order).
  const PointList& operator[](std::size_t i) const noexcept { return *lists_[i]; }
  const std::shared_ptr<const PointList>& shared(std::size_t i) const noexcept { return lists_[i]; }

  // Appends the next member's list: `have` itself if it holds at least `vnodes` vnodes, else
  // a new list holding `have`'s points (none if null) followed by those of the vnodes after
  // them up to `vnodes`. `have` must be this address's list (or null).
  void append(std::string_view address, std::uint32_t vnodes, const std::shared_ptr<const PointList>& have);

  // Bytes of the per-ring part (one pointer per member).
  std::size_t own_bytes() const noexcept { return lists_.capacity() * sizeof(lists_[0]); }
  // Bytes of the lists this ring holds, each counted in full although consecutive rings
  // share them (list, vector header and shared_ptr control block).
  std::size_t shared_bytes() const noexcept;

 private:
  std::vector<std::shared_ptr<const PointList>> lists_;
};

// Appends to `out` the points of `address`'s vnodes [from, to), in vnode order.
void append_ketama_points(std::string_view address, std::uint32_t from, std::uint32_t to, PointList& out);

}  // namespace frodo::detail
