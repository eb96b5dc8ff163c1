// MD5 as ketama and node-hashring use it: the digest, and a digest's first four bytes read
// as a little-endian 32-bit point.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace frodo::detail {

using Md5Digest = std::array<unsigned char, 16>;

Md5Digest md5(std::string_view bytes) noexcept;

// Point `group` (0-3) of a digest: bytes 4*group .. 4*group+3, little-endian.
inline std::uint32_t md5_point(const Md5Digest& d, int group) noexcept {
  const unsigned char* b = d.data() + 4 * group;
  return std::uint32_t{b[0]} | std::uint32_t{b[1]} << 8 | std::uint32_t{b[2]} << 16 | std::uint32_t{b[3]} << 24;
}

}  // namespace frodo::detail
