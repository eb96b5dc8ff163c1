#include "ketama_points.hpp"

#include <string>

#include "ketama.hpp"
#include "md5.hpp"

namespace frodo::detail {

void append_ketama_points(std::string_view address, std::uint32_t from, std::uint32_t to, PointList& out) {
  std::string key(address);
  key.push_back('-');
  const std::size_t base = key.size();
  out.reserve(out.size() + std::size_t{to - from} * Ketama::points_per_vnode);
  for (std::uint32_t v = from; v < to; ++v) {
    key.resize(base);
    key += std::to_string(v);
    const Md5Digest d = md5(key);
    for (int g = 0; g < Ketama::points_per_vnode; ++g) out.push_back(md5_point(d, g));
  }
}

void KetamaPoints::append(std::string_view address, std::uint32_t vnodes,
                          const std::shared_ptr<const PointList>& have) {
  const std::size_t held = have ? have->size() / Ketama::points_per_vnode : 0;
  if (have && held >= vnodes) {
    lists_.push_back(have);
    return;
  }
  auto list = std::make_shared<PointList>();
  list->reserve(std::size_t{vnodes} * Ketama::points_per_vnode);
  if (have) list->assign(have->begin(), have->end());
  append_ketama_points(address, static_cast<std::uint32_t>(held), vnodes, *list);
  lists_.push_back(std::move(list));
}

std::size_t KetamaPoints::shared_bytes() const noexcept {
  // make_shared puts the control block (two counts and a vtable pointer) next to the vector.
  constexpr std::size_t control_block = 2 * sizeof(long) + sizeof(void*);
  std::size_t bytes = 0;
  for (const auto& list : lists_) bytes += control_block + sizeof(PointList) + list->capacity() * sizeof(std::uint32_t);
  return bytes;
}

}  // namespace frodo::detail
