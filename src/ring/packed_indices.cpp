#include "packed_indices.hpp"

#include <algorithm>

namespace frodo::detail {

PackedIndices::PackedIndices(const std::vector<std::uint16_t>& values, std::size_t member_count)
    : size_(values.size()),
      width_(std::max(1, static_cast<int>(std::bit_width(member_count > 1 ? member_count - 1 : 0)))),
      mask_(static_cast<std::uint32_t>((std::uint64_t{1} << width_) - 1)) {
  bytes_.assign((size_ * static_cast<std::size_t>(width_) + 7) / 8 + 7, 0);
  // The stream is written 64 bits at a time: `word` collects the next `held` bits, and each
  // full word is stored (little-endian) at `out`. A full word's bits all lie within the
  // stream, so the store stays inside bytes_.
  std::uint64_t word = 0;
  int held = 0;
  std::size_t out = 0;
  auto store = [this](std::size_t at, std::uint64_t w, std::size_t count) {
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    std::memcpy(bytes_.data() + at, &w, count);
  };
  for (std::uint16_t value : values) {
    const std::uint64_t v = value & mask_;
    word |= v << held;
    held += width_;
    if (held >= 64) {
      store(out, word, sizeof word);
      out += sizeof word;
      held -= 64;
      word = held == 0 ? 0 : v >> (width_ - held);  // the bits that did not fit
    }
  }
  if (held > 0) store(out, word, static_cast<std::size_t>(held + 7) / 8);
}

}  // namespace frodo::detail
