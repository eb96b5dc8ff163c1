#include "ketama.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "distinct_walk.hpp"
#include "md5.hpp"

namespace frodo::detail {

std::uint32_t Ketama::hash(std::string_view id) noexcept { return md5_point(md5(id), 0); }

std::uint32_t Ketama::vnodes_for(double weight, double total_weight, std::size_t member_count) noexcept {
  // Same operations in the same order as node-hashring's
  // Math.floor(weight / total * vnodes * servers.length); the build compiles this file
  // with -ffp-contract=off so no fused multiply-add changes the rounding.
  double percentage = weight / total_weight;
  double length = percentage * static_cast<double>(vnodes_per_server) * static_cast<double>(member_count);
  return static_cast<std::uint32_t>(std::floor(length));
}

Ketama::Ketama(const std::vector<Member>& members) {
  if (members.empty()) return;
  double total = 0;
  for (const Member& m : members) total += m.weight;  // node sums in list order: address order

  // Each entry is point << 16 | member index: sorting the integers orders points, and equal
  // points by member index, which is address order.
  std::vector<std::uint64_t> entries;
  std::size_t estimate = 0;
  for (const Member& m : members) estimate += vnodes_for(m.weight, total, members.size()) * points_per_vnode;
  entries.reserve(estimate);

  std::string key;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    std::uint32_t vnodes = vnodes_for(m.weight, total, members.size());
    key.assign(m.address).push_back('-');
    std::size_t base = key.size();
    for (std::uint32_t v = 0; v < vnodes; ++v) {
      key.resize(base);
      key += std::to_string(v);
      Md5Digest d = md5(key);
      for (int g = 0; g < points_per_vnode; ++g) entries.push_back(std::uint64_t{md5_point(d, g)} << 16 | i);
    }
  }

  // LSD radix sort on the 48 significant bits, 16 at a time: linear, and several times
  // faster than a comparison sort at 160,000 points.
  std::vector<std::uint64_t> scratch(entries.size());
  for (int pass = 0; pass < 3; ++pass) {
    int shift = pass * 16;
    std::vector<std::uint32_t> count(65537, 0);
    for (std::uint64_t e : entries) ++count[((e >> shift) & 0xffff) + 1];
    for (std::size_t b = 1; b < count.size(); ++b) count[b] += count[b - 1];
    for (std::uint64_t e : entries) scratch[count[(e >> shift) & 0xffff]++] = e;
    entries.swap(scratch);
  }

  continuum_ = Continuum(entries, members.size());
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
  for (std::size_t i = 0; i < continuum_.size(); ++i) {
    u128 end = u128{continuum_.point_at(i)} + 1;
    if (!map.segments.empty() && map.segments.back().end >= end) continue;  // equal points
    map.segments.push_back({end, continuum_.owner_at(i)});
  }
  if (map.segments.back().end < map.space) map.segments.push_back({map.space, continuum_.owner_at(0)});
  return map;
}

}  // namespace frodo::detail
