#include "packed_indices.hpp"

#include <algorithm>

namespace frodo::detail {

PackedIndices::PackedIndices(const std::vector<std::uint16_t>& values, std::size_t member_count)
    : size_(values.size()),
      width_(std::max(1, static_cast<int>(std::bit_width(member_count > 1 ? member_count - 1 : 0)))),
      mask_(static_cast<std::uint32_t>((std::uint64_t{1} << width_) - 1)) {
  bytes_.assign((size_ * static_cast<std::size_t>(width_) + 7) / 8 + 7, 0);
  for (std::size_t i = 0; i < size_; ++i) {
    std::size_t bit = i * static_cast<std::size_t>(width_);
    std::uint32_t v = values[i] & mask_;
    for (int k = 0; k < width_; ++k, ++bit) {
      if ((v >> k) & 1) bytes_[bit >> 3] = static_cast<unsigned char>(bytes_[bit >> 3] | (1u << (bit & 7)));
    }
  }
}

}  // namespace frodo::detail
