// The continuum of a hash ring: sorted 32-bit points, each owned by a member, searched for
// the first point >= a hash (wrapping past the last point to the first). Ketama builds one.
//
// Layout, chosen so that a search touches two cache lines (the bucket index and one run of
// entries) instead of a binary search over the whole continuum:
//   - The top `bits_` bits of a point name its bucket; bucket_start_[b] is the index of the
//     first point whose bucket is >= b, and bucket_start_[2^bits_] is the point count. A
//     bucket holds a few points on average (see the constructor).
//   - entries_[i] packs point i and its owner into one 32-bit word: the point's low
//     32 - bits_ bits (the bucket is implied by the index) shifted up by bits_, and the owner
//     in the low bits_ bits. Within one bucket the words therefore sort as (point, owner), so
//     the search compares words with (h << bits_) directly and the owner comes out of the
//     same word; no second array is read.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "default_init_allocator.hpp"
#include "frodo/error.hpp"

namespace frodo::detail {

class Continuum {
 public:
  Continuum() = default;
  // `sorted` holds point << 16 | owner for every point, in ascending order (so equal points
  // are ordered by owner); every owner is < member_count <= 65536.
  Continuum(const std::vector<std::uint64_t>& sorted, std::size_t member_count);

  // Builds a continuum of `count` points in one pass without an intermediate array:
  // emit(push) must call push(point, owner) exactly `count` times, in ascending (point,
  // owner) order, every owner < member_count <= 65536. Error(internal) if it calls push
  // another number of times (nothing is written past the continuum).
  template <typename Emit>
  static Continuum build(std::size_t count, std::size_t member_count, Emit&& emit) {
    Continuum c(count, member_count);
    const int bits = c.bits_;
    std::uint32_t* entries = c.entries_.data();
    std::uint32_t* starts = c.bucket_start_.data();
    std::size_t i = 0, b = 0;  // every bucket before b has its start set
    emit([&](std::uint32_t point, std::uint32_t owner) {
      if (i == count) miscounted();
      const auto bucket = static_cast<std::size_t>(std::uint64_t{point} >> (32 - bits));
      while (b <= bucket) starts[b++] = static_cast<std::uint32_t>(i);
      entries[i++] = (point << bits) | owner;
    });
    if (i != count) miscounted();
    const std::size_t buckets = c.bucket_start_.size() - 1;
    while (b <= buckets) starts[b++] = static_cast<std::uint32_t>(i);
    return c;
  }

  // Builds a continuum of `count` points given in any order, without an intermediate array:
  // each_point(f) must call f(point, owner) for the same `count` points every time it is
  // called (twice: once to count each bucket's points, once to place them), every owner <
  // member_count <= 65536; Error(internal) if the first call gives another number of points. The points are placed straight into their buckets (a counting
  // sort on the bucket bits), then each bucket's few words are sorted in place, so the only
  // memory is the continuum's own.
  template <typename EachPoint>
  static Continuum build_unsorted(std::size_t count, std::size_t member_count, EachPoint&& each_point) {
    Continuum c(count, member_count);
    const int bits = c.bits_;
    std::uint32_t* entries = c.entries_.data();
    std::uint32_t* starts = c.bucket_start_.data();
    const std::size_t buckets = c.bucket_start_.size() - 1;
    auto bucket_of = [bits](std::uint32_t point) { return static_cast<std::size_t>(std::uint64_t{point} >> (32 - bits)); };
    // starts[b + 1] counts bucket b, then (summed) starts[b] is where bucket b begins.
    std::fill(c.bucket_start_.begin(), c.bucket_start_.end(), 0);
    each_point([&](std::uint32_t point, std::uint32_t) { ++starts[bucket_of(point) + 1]; });
    for (std::size_t b = 1; b <= buckets; ++b) starts[b] += starts[b - 1];
    if (starts[buckets] != count) miscounted();
    // starts[b] serves as bucket b's cursor, and ends where bucket b + 1 begins...
    each_point([&](std::uint32_t point, std::uint32_t owner) { entries[starts[bucket_of(point)]++] = (point << bits) | owner; });
    // ...so every start moves back one bucket.
    for (std::size_t b = buckets; b > 0; --b) starts[b] = starts[b - 1];
    starts[0] = 0;
    for (std::size_t b = 0; b < buckets; ++b) sort_bucket(entries + starts[b], entries + starts[b + 1]);
    return c;
  }

  // `before` edited in one pass: the `removed` entries taken out, each remaining owner o
  // renumbered to renumber[o] (which must keep the owners' order, so that the points stay
  // sorted), and the `added` entries merged in. Both lists are sorted and hold
  // point << 16 | owner, removed with before's owner numbers (each one an entry of
  // `before`), added with the new ones; `count` is the number of points that results
  // (Error(internal), and nothing written past the continuum, if it is not).
  // Where the bucket bits stay the same, each run of buckets that nothing is added to or
  // removed from is copied word by word with only the owner bits rewritten, and its bucket
  // starts shifted.
  static Continuum merge(const Continuum& before, const std::vector<std::uint16_t>& renumber,
                         const std::vector<std::uint64_t>& removed, const std::vector<std::uint64_t>& added,
                         std::size_t count, std::size_t member_count);

  // Calls f(point, owner) for every point in ascending (point, owner) order.
  template <typename F>
  void for_each(F&& f) const {
    const std::size_t buckets = bucket_start_.size() - 1;
    const std::uint32_t* entries = entries_.data();
    for (std::size_t b = 0; b < buckets; ++b) {
      const auto high = static_cast<std::uint32_t>(std::uint64_t{b} << (32 - bits_));
      for (std::size_t i = bucket_start_[b], end = bucket_start_[b + 1]; i < end; ++i) {
        f(high | (entries[i] >> bits_), entries[i] & owner_mask_);
      }
    }
  }

  std::size_t size() const noexcept { return entries_.size(); }
  bool empty() const noexcept { return entries_.empty(); }

  // Index of the first point >= h, or 0 past the last point; the continuum must not be empty.
  std::size_t position(std::uint32_t h) const noexcept {
    const std::size_t b = static_cast<std::size_t>(std::uint64_t{h} >> (32 - bits_));
    const std::uint32_t key = h << bits_;  // h's place within its bucket, owner bits 0
    std::size_t i = bucket_start_[b];
    const std::size_t last = bucket_start_[b + 1];
    // Buckets hold a handful of words, so a linear scan beats a binary search here.
    while (i < last && entries_[i] < key) ++i;
    return i == entries_.size() ? 0 : i;
  }
  std::uint32_t owner_at(std::size_t i) const noexcept { return entries_[i] & owner_mask_; }
  // The full point i (reassembled from its bucket and its word); not on the lookup path.
  std::uint32_t point_at(std::size_t i) const noexcept;
  // The owner sequence as collect_distinct walks it.
  std::uint32_t operator[](std::size_t i) const noexcept { return owner_at(i); }

  std::size_t memory_bytes() const noexcept {
    return entries_.capacity() * sizeof(std::uint32_t) + bucket_start_.capacity() * sizeof(std::uint32_t);
  }

 private:
  // Sized for `count` points and `member_count` owners (bits_ chosen as the class comment
  // says), entries and bucket starts not yet written (not even zeroed).
  Continuum(std::size_t count, std::size_t member_count);
  static int bits_for(std::size_t count, std::size_t member_count) noexcept;
  // Sorts one bucket's words (by point, then owner): insertion sort for the few words a bucket
  // holds on average, std::sort beyond that (so a crowded bucket is not quadratic).
  static void sort_bucket(std::uint32_t* first, std::uint32_t* last) noexcept;
  // Throws Error(internal): a caller's point count did not match its points.
  [[noreturn]] static void miscounted();

  // Invariants (none changes after construction):
  //   0 <= bits_ <= 24, and every owner < 2^bits_ (so it fits under the point's low bits);
  //   entries_ is sorted by (point, owner), point i lies in bucket b for
  //   bucket_start_[b] <= i < bucket_start_[b + 1], and bucket_start_ is non-decreasing
  //   with 2^bits_ + 1 elements, the last one entries_.size().
  // Sized before they are written (every constructor writes every element), so not zeroed.
  std::vector<std::uint32_t, DefaultInitAllocator<std::uint32_t>> entries_;
  std::vector<std::uint32_t, DefaultInitAllocator<std::uint32_t>> bucket_start_{0, 0};
  int bits_ = 0;
  std::uint32_t owner_mask_ = 0;
};

}  // namespace frodo::detail
