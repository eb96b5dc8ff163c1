// A fixed array of member indices stored at the fewest bits that hold the largest index
// (10 bits at 1,000 members instead of 16): Maglev's lookup table.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace frodo::detail {

class PackedIndices {
 public:
  PackedIndices() = default;
  // Packs `values`, each < member_count <= 65536.
  PackedIndices(const std::vector<std::uint16_t>& values, std::size_t member_count);

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }

  // One unaligned 8-byte read: value i occupies bits [i * width_, (i + 1) * width_) of the
  // little-endian bit stream, and width_ + 7 <= 23 bits always lie within the 8 bytes read
  // from its first byte.
  std::uint32_t operator[](std::size_t i) const noexcept {
    const std::size_t bit = i * static_cast<std::size_t>(width_);
    std::uint64_t word;
    std::memcpy(&word, bytes_.data() + (bit >> 3), sizeof word);
    if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
    return static_cast<std::uint32_t>(word >> (bit & 7)) & mask_;
  }

  std::size_t memory_bytes() const noexcept { return bytes_.capacity(); }

 private:
  // Invariants: 1 <= width_ <= 16, mask_ == 2^width_ - 1, and bytes_ holds
  // ceil(size_ * width_ / 8) bytes of the stream plus 7 bytes of padding, so the 8-byte read
  // of the last value stays inside the vector.
  std::vector<unsigned char> bytes_;
  std::size_t size_ = 0;
  int width_ = 1;
  std::uint32_t mask_ = 1;
};

}  // namespace frodo::detail
