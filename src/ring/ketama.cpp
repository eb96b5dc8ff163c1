#include "ketama.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "distinct_walk.hpp"
#include "md5.hpp"

namespace frodo::detail {
namespace {

// Sorts entries of point << 16 | member index, so equal points come in member order. Large
// lists by an LSD radix sort on the 48 significant bits, 16 at a time: linear, and several
// times faster than a comparison sort at 160,000 points.
void sort_entries(std::vector<std::uint64_t>& entries) {
  if (entries.size() < 4096) {
    std::sort(entries.begin(), entries.end());
    return;
  }
  std::vector<std::uint64_t> scratch(entries.size());
  for (int pass = 0; pass < 3; ++pass) {
    int shift = pass * 16;
    std::vector<std::uint32_t> count(65537, 0);
    for (std::uint64_t e : entries) ++count[((e >> shift) & 0xffff) + 1];
    for (std::size_t b = 1; b < count.size(); ++b) count[b] += count[b - 1];
    for (std::uint64_t e : entries) scratch[count[(e >> shift) & 0xffff]++] = e;
    entries.swap(scratch);
  }
}

// Vnodes of every member, as node-hashring counts them (the total added up in address order).
std::vector<std::uint32_t> vnode_counts(const std::vector<Member>& members) {
  double total = 0;
  for (const Member& m : members) total += m.weight;
  std::vector<std::uint32_t> counts(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) counts[i] = Ketama::vnodes_for(members[i].weight, total, members.size());
  return counts;
}

}  // namespace

std::uint32_t Ketama::hash(std::string_view id) noexcept { return md5_point(md5(id), 0); }

std::uint32_t Ketama::vnodes_for(double weight, double total_weight, std::size_t member_count) noexcept {
  // Same operations in the same order as node-hashring's
  // Math.floor(weight / total * vnodes * servers.length); the build compiles this file
  // with -ffp-contract=off so no fused multiply-add changes the rounding.
  double percentage = weight / total_weight;
  double length = percentage * static_cast<double>(vnodes_per_server) * static_cast<double>(member_count);
  return static_cast<std::uint32_t>(std::floor(length));
}

Ketama::Ketama(const std::vector<Member>& members) : Ketama(Ketama(), {}, members) {
  points_ = KetamaPoints();  // a ring built from scratch keeps no points (see the header)
}

Ketama::Ketama(const Ketama& before, const std::vector<Member>& before_members, const std::vector<Member>& members) {
  constexpr auto per_vnode = static_cast<std::size_t>(points_per_vnode);
  const bool reuse = before.kept_points(before_members.size()) && !before.continuum_.empty();
  const std::vector<std::uint32_t> vnodes = vnode_counts(members);
  if (!reuse) {
    // Every member is hashed, and its points go straight into the continuum's buckets: no
    // array of all points besides the lists and the continuum (at 10,000 members a sorted
    // array of 1.6 million 64-bit entries and a radix sort's scratch would take 26 MB more,
    // and the allocator keeps such a peak as the process's RSS).
    points_.reserve(members.size());
    std::size_t count = 0;
    for (std::size_t j = 0; j < members.size(); ++j) {
      points_.append(members[j].address, vnodes[j], nullptr);
      count += vnodes[j] * per_vnode;
    }
    continuum_ = Continuum::build_unsorted(count, members.size(), [&](auto push) {
      for (std::size_t j = 0; j < members.size(); ++j) {
        const PointList& list = points_[j];
        for (std::size_t k = 0; k < vnodes[j] * per_vnode; ++k) push(list[k], static_cast<std::uint32_t>(j));
      }
    });
    return;
  }
  const std::vector<std::uint32_t> old_vnodes = vnode_counts(before_members);

  // renumber[i]: the new index of before's member i (unused for one that left). Both lists
  // are sorted by address, so one walk pairs them; a member whose weight changed keeps its
  // place and its list, and only its vnode count differs.
  std::vector<std::uint16_t> renumber(before_members.size(), 0);
  // removed: before's entries that go (every point of a member that left, and the vnodes a
  // remaining member lost), as point << 16 | old index; added: the entries of the vnodes
  // that come (every point of a member that joined, the vnodes a member gained), as
  // point << 16 | new index.
  std::vector<std::uint64_t> removed, added;
  auto remove_all = [&](std::size_t i) {
    const PointList& list = before.points_[i];
    for (std::size_t k = 0; k < old_vnodes[i] * per_vnode; ++k) removed.push_back(std::uint64_t{list[k]} << 16 | i);
  };
  points_.reserve(members.size());
  std::size_t i = 0;
  for (std::size_t j = 0; j < members.size(); ++j) {
    for (; i < before_members.size() && before_members[i].address < members[j].address; ++i) remove_all(i);
    const bool stays = i < before_members.size() && before_members[i].address == members[j].address;
    const std::size_t had = stays ? old_vnodes[i] : 0;
    points_.append(members[j].address, vnodes[j], stays ? before.points_.shared(i) : nullptr);
    const PointList& list = points_[j];
    for (std::size_t k = had * per_vnode; k < vnodes[j] * per_vnode; ++k) added.push_back(std::uint64_t{list[k]} << 16 | j);
    if (stays) {
      renumber[i] = static_cast<std::uint16_t>(j);
      for (std::size_t k = vnodes[j] * per_vnode; k < had * per_vnode; ++k) {
        removed.push_back(std::uint64_t{list[k]} << 16 | i);
      }
    }
    if (i < before_members.size() && before_members[i].address == members[j].address) ++i;
  }
  for (; i < before_members.size(); ++i) remove_all(i);
  sort_entries(removed);
  sort_entries(added);

  // One pass over before's continuum in (point, old index) order: take the removed entries
  // out, renumber the rest (renumbering keeps address order, so the order stays (point, new
  // index)), and merge the added entries in.
  const std::size_t kept = before.continuum_.size() - removed.size();
  continuum_ = Continuum::merge(before.continuum_, renumber, removed, added,
                                kept + added.size(), members.size());
}

void Ketama::owners(std::string_view id, std::size_t n, std::size_t member_count,
                    std::vector<std::uint32_t>& out) const {
  if (continuum_.empty()) return;
  collect_distinct(continuum_, continuum_.position(hash(id)), n, member_count, out);
}

SegmentMap Ketama::segments() const {
  // A hash h goes to the first point >= h: point i owns (points[i-1], points[i]], and the
  // first point also owns everything past the last one.
  SegmentMap map;
  map.space = u128{1} << 32;
  if (continuum_.empty()) return map;
  map.segments.reserve(continuum_.size() + 1);
  continuum_.for_each([&map](std::uint32_t point, std::uint32_t owner) {
    const u128 end = u128{point} + 1;
    if (!map.segments.empty() && map.segments.back().end >= end) return;  // equal points
    map.segments.push_back({end, owner});
  });
  if (map.segments.back().end < map.space) map.segments.push_back({map.space, continuum_.owner_at(0)});
  return map;
}

}  // namespace frodo::detail
