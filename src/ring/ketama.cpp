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

  points_.resize(entries.size());
  owner_.resize(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    points_[i] = static_cast<std::uint32_t>(entries[i] >> 16);
    owner_[i] = static_cast<std::uint16_t>(entries[i] & 0xffff);
  }
  if (points_.empty()) return;

  // Buckets on the top bits of a point, about four points each, narrow the search to a few
  // neighbouring points instead of a binary search over the whole continuum.
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

std::size_t Ketama::position(std::uint32_t h) const noexcept {
  std::size_t b = std::uint64_t{h} >> shift_;
  auto first = points_.begin() + bucket_start_[b];
  auto last = points_.begin() + bucket_start_[b + 1];
  std::size_t i = std::lower_bound(first, last, h) - points_.begin();
  return i == points_.size() ? 0 : i;
}

void Ketama::owners(std::string_view id, std::size_t n, std::size_t member_count,
                    std::vector<std::uint32_t>& out) const {
  if (points_.empty()) return;
  collect_distinct(owner_, position(hash(id)), n, member_count, out);
}

SegmentMap Ketama::segments() const {
  // A hash h goes to the first point >= h: point i owns (points[i-1], points[i]], and the
  // first point also owns everything past the last one.
  SegmentMap map;
  map.space = u128{1} << 32;
  if (points_.empty()) return map;
  map.segments.reserve(points_.size() + 1);
  for (std::size_t i = 0; i < points_.size(); ++i) {
    u128 end = u128{points_[i]} + 1;
    if (!map.segments.empty() && map.segments.back().end >= end) continue;  // equal points
    map.segments.push_back({end, owner_[i]});
  }
  if (map.segments.back().end < map.space) map.segments.push_back({map.space, owner_[0]});
  return map;
}

std::size_t Ketama::memory_bytes() const noexcept {
  return points_.capacity() * sizeof(std::uint32_t) + owner_.capacity() * sizeof(std::uint16_t) +
         bucket_start_.capacity() * sizeof(std::uint32_t);
}

}  // namespace frodo::detail
