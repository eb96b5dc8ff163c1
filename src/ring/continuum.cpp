#include "continuum.hpp"

#include <algorithm>
#include <bit>

namespace frodo::detail {
namespace {

// Copies the words [in, end) to `out` with their owner bits (`mask`) renumbered. Kept apart,
// with everything in locals, so the loop holds its state in registers.
void copy_renumbered(const std::uint32_t* in, const std::uint32_t* end, std::uint32_t* out,
                     const std::uint16_t* renumber, std::uint32_t mask) noexcept {
  for (; in != end; ++in, ++out) *out = (*in & ~mask) | renumber[*in & mask];
}

}  // namespace

int Continuum::bits_for(std::size_t count, std::size_t member_count) noexcept {
  // About four points per bucket (the fewest bits with at most 4 points per bucket on
  // average) keeps the index at a quarter of the entries' count, and never fewer bits than
  // the owners need.
  int bits = 0;
  while (bits < 24 && (std::size_t{1} << (bits + 2)) < count) ++bits;
  const int owner_bits = member_count > 1 ? std::bit_width(member_count - 1) : 0;
  return bits < owner_bits ? owner_bits : bits;
}

void Continuum::miscounted() {
  throw Error(Errc::internal, "ring: a continuum's points do not match its count");
}

void Continuum::sort_bucket(std::uint32_t* first, std::uint32_t* last) noexcept {
  if (last - first > 16) {
    std::sort(first, last);
    return;
  }
  for (std::uint32_t* i = first + (first != last ? 1 : 0); i < last; ++i) {
    const std::uint32_t word = *i;
    std::uint32_t* j = i;
    for (; j > first && *(j - 1) > word; --j) *j = *(j - 1);
    *j = word;
  }
}

Continuum::Continuum(std::size_t count, std::size_t member_count) {
  bits_ = bits_for(count, member_count);
  owner_mask_ = static_cast<std::uint32_t>((std::uint64_t{1} << bits_) - 1);
  entries_.resize(count);
  bucket_start_.resize((std::size_t{1} << bits_) + 1);
}

Continuum::Continuum(const std::vector<std::uint64_t>& sorted, std::size_t member_count)
    : Continuum(build(sorted.size(), member_count, [&sorted](auto push) {
        for (std::uint64_t e : sorted) push(static_cast<std::uint32_t>(e >> 16), static_cast<std::uint32_t>(e & 0xffff));
      })) {}

Continuum Continuum::merge(const Continuum& before, const std::vector<std::uint16_t>& renumber,
                           const std::vector<std::uint64_t>& removed, const std::vector<std::uint64_t>& added,
                           std::size_t count, std::size_t member_count) {
  const std::uint64_t* next_added = added.data();
  const std::uint64_t* const added_end = next_added + added.size();
  const std::uint64_t* next_removed = removed.data();
  const std::uint64_t* const removed_end = next_removed + removed.size();
  auto push_added = [&](auto& push) {
    push(static_cast<std::uint32_t>(*next_added >> 16), static_cast<std::uint32_t>(*next_added & 0xffff));
    ++next_added;
  };
  // Merges one of before's points into the output, or drops it if it is the next removed one.
  auto merge_point = [&](auto& push, std::uint32_t point, std::uint32_t owner) {
    if (next_removed != removed_end && *next_removed == (std::uint64_t{point} << 16 | owner)) {
      ++next_removed;
      return;
    }
    const std::uint32_t to = renumber[owner];
    const std::uint64_t e = std::uint64_t{point} << 16 | to;
    while (next_added != added_end && *next_added < e) push_added(push);
    push(point, to);
  };

  if (bits_for(count, member_count) != before.bits_) {
    // Another bucket size: every word is decoded and encoded again.
    return build(count, member_count, [&](auto push) {
      before.for_each([&](std::uint32_t point, std::uint32_t owner) { merge_point(push, point, owner); });
      while (next_added != added_end) push_added(push);
    });
  }

  Continuum c(count, member_count);
  const int bits = c.bits_;
  const std::uint32_t mask = c.owner_mask_;
  const std::size_t buckets = c.bucket_start_.size() - 1;
  const std::uint32_t* in = before.entries_.data();
  const std::uint32_t* old_starts = before.bucket_start_.data();
  std::uint32_t* out = c.entries_.data();
  std::uint32_t* starts = c.bucket_start_.data();
  std::size_t o = 0;  // words written
  // push for the points of one changed bucket, whose start is already written.
  auto push = [&](std::uint32_t point, std::uint32_t owner) {
    if (o == count) miscounted();
    out[o++] = (point << bits) | owner;
  };
  auto bucket_of = [bits](std::uint64_t key) { return static_cast<std::size_t>(key >> 16 >> (32 - bits)); };
  std::size_t bucket = 0;
  while (bucket < buckets) {
    // The buckets before the next one with a change are copied as they are.
    std::size_t changed = buckets;
    if (next_added != added_end) changed = std::min(changed, bucket_of(*next_added));
    if (next_removed != removed_end) changed = std::min(changed, bucket_of(*next_removed));
    if (changed > bucket) {
      const std::uint32_t first = old_starts[bucket], last = old_starts[changed];
      if (last - first > count - o) miscounted();
      const auto shift = static_cast<std::uint32_t>(o) - first;  // modulo 2^32, as the sums below
      for (std::size_t b = bucket; b < changed; ++b) starts[b] = old_starts[b] + shift;
      copy_renumbered(in + first, in + last, out + o, renumber.data(), mask);
      o += last - first;
      bucket = changed;
      if (bucket == buckets) break;
    }
    // Bucket `bucket` changes: merged point by point.
    starts[bucket] = static_cast<std::uint32_t>(o);
    const auto high = static_cast<std::uint32_t>(std::uint64_t{bucket} << (32 - bits));
    for (std::size_t i = old_starts[bucket]; i < old_starts[bucket + 1]; ++i) {
      merge_point(push, high | (in[i] >> bits), in[i] & mask);
    }
    while (next_added != added_end && bucket_of(*next_added) == bucket) push_added(push);
    ++bucket;
  }
  if (o != count) miscounted();
  starts[buckets] = static_cast<std::uint32_t>(o);
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
