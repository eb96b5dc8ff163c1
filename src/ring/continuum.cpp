#include "continuum.hpp"

#include <bit>

namespace frodo::detail {

Continuum::Continuum(const std::vector<std::uint64_t>& sorted, std::size_t member_count) {
  // About four points per bucket (the fewest bits with at most 4 points per bucket on
  // average) keeps the index at a quarter of the entries' count, and never fewer bits than
  // the owners need.
  int bits = 0;
  while (bits < 24 && (std::size_t{1} << (bits + 2)) < sorted.size()) ++bits;
  const int owner_bits = member_count > 1 ? std::bit_width(member_count - 1) : 0;
  if (bits < owner_bits) bits = owner_bits;
  bits_ = bits;
  owner_mask_ = static_cast<std::uint32_t>((std::uint64_t{1} << bits_) - 1);

  const std::size_t buckets = std::size_t{1} << bits_;
  entries_.resize(sorted.size());
  bucket_start_.assign(buckets + 1, 0);
  std::size_t b = 0;  // every bucket before b has its start set
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const auto point = static_cast<std::uint32_t>(sorted[i] >> 16);
    const auto owner = static_cast<std::uint32_t>(sorted[i] & 0xffff);
    const auto bucket = static_cast<std::size_t>(std::uint64_t{point} >> (32 - bits_));
    while (b <= bucket) bucket_start_[b++] = static_cast<std::uint32_t>(i);
    entries_[i] = (point << bits_) | owner;
  }
  while (b <= buckets) bucket_start_[b++] = static_cast<std::uint32_t>(sorted.size());
}

std::uint32_t Continuum::point_at(std::size_t i) const noexcept {
  // The bucket of point i: the last b with bucket_start_[b] <= i.
  std::size_t lo = 0, hi = bucket_start_.size() - 1;  // bucket_start_[lo] <= i < bucket_start_[hi]
  while (hi - lo > 1) {
    std::size_t mid = lo + (hi - lo) / 2;
    if (bucket_start_[mid] <= i) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  const std::uint64_t high = std::uint64_t{lo} << (32 - bits_);
  return static_cast<std::uint32_t>(high | (entries_[i] >> bits_));
}

}  // namespace frodo::detail
