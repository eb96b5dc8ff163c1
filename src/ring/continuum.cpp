#include "continuum.hpp"

#include <bit>

namespace frodo::detail {

int Continuum::bits_for(std::size_t count, std::size_t member_count) noexcept {
  // About four points per bucket (the fewest bits with at most 4 points per bucket on
  // average) keeps the index at a quarter of the entries' count, and never fewer bits than
  // the owners need.
  int bits = 0;
  while (bits < 24 && (std::size_t{1} << (bits + 2)) < count) ++bits;
  const int owner_bits = member_count > 1 ? std::bit_width(member_count - 1) : 0;
  return bits < owner_bits ? owner_bits : bits;
}

Continuum::Continuum(std::size_t count, std::size_t member_count) {
  bits_ = bits_for(count, member_count);
  owner_mask_ = static_cast<std::uint32_t>((std::uint64_t{1} << bits_) - 1);
  entries_.resize(count);
  bucket_start_.assign((std::size_t{1} << bits_) + 1, 0);
}

Continuum::Continuum(const std::vector<std::uint64_t>& sorted, std::size_t member_count)
    : Continuum(build(sorted.size(), member_count, [&sorted](auto push) {
        for (std::uint64_t e : sorted) push(static_cast<std::uint32_t>(e >> 16), static_cast<std::uint32_t>(e & 0xffff));
      })) {}

Continuum Continuum::merge(const Continuum& before, const std::vector<std::uint32_t>& renumber,
                           const std::vector<std::uint64_t>& removed, const std::vector<std::uint64_t>& added,
                           std::size_t count, std::size_t member_count) {
  const std::uint64_t* next_added = added.data();
  const std::uint64_t* const added_end = next_added + added.size();
  const std::uint64_t* next_removed = removed.data();
  const std::uint64_t* const removed_end = next_removed + removed.size();
  // Merges one of before's points (owner already renumbered to `to`) into the output.
  auto merge_point = [&](auto& push, std::uint32_t point, std::uint32_t owner, std::uint32_t to) {
    if (next_removed != removed_end && *next_removed == (std::uint64_t{point} << 16 | owner)) {
      ++next_removed;
      return;
    }
    const std::uint64_t e = std::uint64_t{point} << 16 | to;
    while (next_added != added_end && *next_added < e) {
      push(static_cast<std::uint32_t>(*next_added >> 16), static_cast<std::uint32_t>(*next_added & 0xffff));
      ++next_added;
    }
    push(point, to);
  };
  auto push_rest = [&](auto& push) {
    for (; next_added != added_end; ++next_added) {
      push(static_cast<std::uint32_t>(*next_added >> 16), static_cast<std::uint32_t>(*next_added & 0xffff));
    }
  };

  if (bits_for(count, member_count) != before.bits_) {
    // Another bucket size: every word is decoded and encoded again.
    return build(count, member_count, [&](auto push) {
      before.for_each([&](std::uint32_t point, std::uint32_t owner) {
        const std::uint32_t to = renumber[owner];
        if (to != dropped) merge_point(push, point, owner, to);
      });
      push_rest(push);
    });
  }

  Continuum c(count, member_count);
  const int bits = c.bits_;
  const std::uint32_t mask = c.owner_mask_;
  const std::size_t buckets = c.bucket_start_.size() - 1;
  const std::uint32_t* in = before.entries_.data();
  std::uint32_t* out = c.entries_.data();
  std::uint32_t* starts = c.bucket_start_.data();
  std::size_t o = 0;  // words written
  std::size_t b = 0;  // buckets whose start is written
  // push for the buckets that do change: the same as build()'s.
  auto push = [&](std::uint32_t point, std::uint32_t owner) {
    const auto bucket = static_cast<std::size_t>(std::uint64_t{point} >> (32 - bits));
    while (b <= bucket) starts[b++] = static_cast<std::uint32_t>(o);
    out[o++] = (point << bits) | owner;
  };
  for (std::size_t bucket = 0; bucket < buckets; ++bucket) {
    // Keys (point << 16 | owner) of this bucket are below `limit`.
    const std::uint64_t limit = (std::uint64_t{bucket} + 1) << (32 - bits) << 16;
    const std::size_t first = before.bucket_start_[bucket], last = before.bucket_start_[bucket + 1];
    if ((next_added != added_end && *next_added < limit) || (next_removed != removed_end && *next_removed < limit)) {
      const auto high = static_cast<std::uint32_t>(std::uint64_t{bucket} << (32 - bits));
      for (std::size_t i = first; i < last; ++i) {
        const std::uint32_t to = renumber[in[i] & mask];
        if (to != dropped) merge_point(push, high | (in[i] >> bits), in[i] & mask, to);
      }
      while (next_added != added_end && *next_added < limit) {
        push(static_cast<std::uint32_t>(*next_added >> 16), static_cast<std::uint32_t>(*next_added & 0xffff));
        ++next_added;
      }
      continue;
    }
    while (b <= bucket) starts[b++] = static_cast<std::uint32_t>(o);
    for (std::size_t i = first; i < last; ++i) {
      const std::uint32_t to = renumber[in[i] & mask];
      if (to != dropped) out[o++] = (in[i] & ~mask) | to;
    }
  }
  while (b <= buckets) starts[b++] = static_cast<std::uint32_t>(o);
  return c;
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
