#include "frodo/ring.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <unordered_set>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "frodo/address.hpp"
#include "frodo/error.hpp"
#include "ring_state.hpp"

namespace frodo {
namespace {

// printf's %.17g: std::to_chars with a precision is specified to give what printf gives (C
// locale) and is several times faster, which the checksum of 10,000 members notices.
std::string format_weight(double weight) {
  char buffer[32];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof buffer, weight, std::chars_format::general, 17);
  return std::string(buffer, r.ptr);
}

bool by_address(const Member& a, const Member& b) { return a.address < b.address; }

// `sorted`: whether `members` is sorted by address. `known`: members already checked (a
// previous ring's, sorted by address), whose address and weight are not parsed again when
// `members` is sorted too: at 10,000 members parsing every address is most of a ring change's
// cost outside the table.
void validate(const std::vector<Member>& members, bool sorted, const std::vector<Member>& known) {
  if (members.size() > Ring::max_members) {
    throw Error(Errc::invalid_argument, "too many members: " + std::to_string(members.size()) + " (at most " +
                                            std::to_string(Ring::max_members) + ")");
  }
  // In a list sorted by address (a Cluster's are) a repeated address follows its first
  // occurrence, so comparing neighbours finds the same first duplicate as the set does.
  std::unordered_set<std::string_view> seen;
  std::size_t k = 0;  // with `sorted`: known[k] is the first known member not below members[i]
  for (std::size_t i = 0; i < members.size(); ++i) {
    const Member& m = members[i];
    if (sorted) {
      while (k < known.size() && known[k].address < m.address) ++k;
      if (k < known.size() && known[k].address == m.address && known[k].weight == m.weight) {
        if (i > 0 && members[i - 1].address == m.address) throw Error(Errc::invalid_argument, "duplicate address '" + m.address + "'");
        continue;
      }
    }
    if (auto problem = address_problem(m.address)) {
      throw Error(Errc::invalid_argument, "bad address '" + m.address + "': " + *problem);
    }
    if (auto problem = weight_problem(m.weight)) {
      throw Error(Errc::invalid_argument, "bad weight " + format_weight(m.weight) + " for '" + m.address + "': " + *problem);
    }
    if (sorted ? i > 0 && members[i - 1].address == m.address : !seen.insert(m.address).second) {
      throw Error(Errc::invalid_argument, "duplicate address '" + m.address + "'");
    }
  }
}

std::uint64_t checksum_of(Algorithm algorithm, const std::vector<Member>& members) {
  // Length-prefixed fields, so no choice of address or zone can make two lists collide
  // by construction.
  std::string buffer = to_string(algorithm);
  auto field = [&buffer](std::string_view s) {
    std::uint64_t n = s.size();
    buffer.append(reinterpret_cast<const char*>(&n), sizeof n);
    buffer.append(s);
  };
  for (const Member& m : members) {
    field(m.address);
    field(format_weight(m.weight));
    field(m.zone);
  }
  return XXH3_64bits(buffer.data(), buffer.size());
}

const std::vector<Member> no_members;

// The one place an Algorithm picks a structure. No default: with -Werror=switch (set for
// this library) a new enumerator does not compile until it is handled here.
detail::RingTable make_table(Algorithm algorithm, const std::vector<Member>& members) {
  switch (algorithm) {
    case Algorithm::ketama:
      return detail::Ketama(members);
    case Algorithm::maglev:
      return detail::Maglev(members);
  }
  throw Error(Errc::invalid_argument, "unknown algorithm " + std::to_string(static_cast<int>(algorithm)));
}

// Checks `members` (Error(invalid_argument) naming the first bad one; those equal to one of
// `known`, checked before, are not parsed again) and sorts them by address.
void prepare(std::vector<Member>& members, const std::vector<Member>& known = no_members) {
  const bool sorted = std::is_sorted(members.begin(), members.end(), by_address);
  validate(members, sorted, known);
  // A Cluster's lists come sorted already (and an equal address was refused above).
  if (!sorted) std::sort(members.begin(), members.end(), by_address);
}

}  // namespace

std::optional<std::string> weight_problem(double weight) {
  // Written so that NaN fails too.
  if (weight >= Ring::min_weight && weight <= Ring::max_weight) return std::nullopt;
  return "must be between 0.001 and 1000000";
}

const char* to_string(Algorithm algorithm) noexcept {
  // No default: a new enumerator does not compile (-Werror=switch) until it has a name.
  switch (algorithm) {
    case Algorithm::ketama:
      return "ketama";
    case Algorithm::maglev:
      return "maglev";
  }
  return "unknown";  // only a value cast from outside the enumeration
}

Algorithm parse_algorithm(std::string_view text) {
  if (text == "ketama") return Algorithm::ketama;
  if (text == "maglev") return Algorithm::maglev;
  throw Error(Errc::invalid_argument, "unknown algorithm '" + std::string(text) + "' (expected ketama or maglev)");
}

Ring::Ring() : Ring(std::vector<Member>{}) {}

Ring::Ring(std::vector<Member> members, Algorithm algorithm) {
  prepare(members);
  auto state = std::make_shared<detail::RingState>();
  state->table = make_table(algorithm, members);
  state->checksum = checksum_of(algorithm, members);
  state->members = std::move(members);
  state_ = std::move(state);
}

Ring Ring::next(std::vector<Member> members) const {
  const detail::RingState& before = *state_;
  prepare(members, before.members);
  auto state = std::make_shared<detail::RingState>();
  state->table = std::visit(
      [&](const auto& table) -> detail::RingTable { return table.next(before.members, members); }, before.table);
  state->checksum = checksum_of(before.algorithm(), members);
  state->members = std::move(members);
  return Ring(std::shared_ptr<const detail::RingState>(std::move(state)));
}

Ring::Ring(std::shared_ptr<const detail::RingState> state) : state_(std::move(state)) {}

std::optional<std::size_t> Ring::owner_index(std::string_view id) const {
  const detail::RingState& s = *state_;
  return std::visit(
      [id](const auto& table) -> std::optional<std::size_t> {
        // Empty for no members, and for a ketama ring whose weights gave every member 0 vnodes.
        if (table.empty()) return std::nullopt;
        return table.owner(id);
      },
      s.table);
}

std::optional<std::string_view> Ring::owner(std::string_view id) const {
  std::optional<std::size_t> index = owner_index(id);
  if (!index) return std::nullopt;
  return state_->members[*index].address;
}

std::vector<std::string_view> Ring::owners(std::string_view id, std::size_t n) const {
  const detail::RingState& s = *state_;
  std::vector<std::uint32_t> indices;
  indices.reserve(std::min(n, s.members.size()));
  std::visit([&](const auto& table) { table.owners(id, n, s.members.size(), indices); }, s.table);
  std::vector<std::string_view> result;
  result.reserve(indices.size());
  for (std::uint32_t i : indices) result.emplace_back(s.members[i].address);
  return result;
}

const std::vector<Member>& Ring::members() const { return state_ ? state_->members : no_members; }
std::size_t Ring::size() const { return state_->members.size(); }
bool Ring::empty() const { return state_->members.empty(); }
Algorithm Ring::algorithm() const { return state_->algorithm(); }
std::uint64_t Ring::checksum() const { return state_->checksum; }

std::string Ring::checksum_hex() const {
  char buffer[17];
  std::snprintf(buffer, sizeof buffer, "%016llx", static_cast<unsigned long long>(state_->checksum));
  return buffer;
}

std::vector<double> Ring::shares() const {
  const detail::RingState& s = *state_;
  std::vector<long double> owned(s.members.size(), 0);
  detail::SegmentMap map = s.segments();
  detail::u128 start = 0;
  for (const detail::Segment& seg : map.segments) {
    owned[seg.owner] += static_cast<long double>(seg.end - start);
    start = seg.end;
  }
  std::vector<double> result(owned.size());
  for (std::size_t i = 0; i < owned.size(); ++i) {
    result[i] = static_cast<double>(owned[i] / static_cast<long double>(map.space));
  }
  return result;
}

std::size_t Ring::memory_bytes() const {
  const detail::RingState& s = *state_;
  std::size_t bytes = sizeof(detail::RingState) + s.members.capacity() * sizeof(Member);
  for (const Member& m : s.members) {
    if (m.address.capacity() > 15) bytes += m.address.capacity() + 1;
    if (m.zone.capacity() > 15) bytes += m.zone.capacity() + 1;
  }
  return bytes + std::visit([](const auto& table) { return table.memory_bytes(); }, s.table);
}

std::size_t Ring::shared_bytes() const {
  return std::visit([](const auto& table) { return table.shared_bytes(); }, state_->table);
}

double moved_share(const Ring& before, const Ring& after) {
  if (before.algorithm() != after.algorithm()) {
    throw Error(Errc::invalid_argument, std::string("cannot compare a ") + to_string(before.algorithm()) +
                                            " ring with a " + to_string(after.algorithm()) + " ring");
  }
  if (before.empty() || after.empty()) return before.empty() && after.empty() ? 0.0 : 1.0;
  // Walk both segment lists together; where the owners' addresses differ, those ids move.
  const detail::RingState& a = *before.state_;
  const detail::RingState& b = *after.state_;
  detail::SegmentMap sa = a.segments();
  detail::SegmentMap sb = b.segments();
  if (sa.segments.empty() || sb.segments.empty()) return sa.segments.empty() && sb.segments.empty() ? 0.0 : 1.0;
  detail::u128 start = 0, moved = 0;
  std::size_t i = 0, j = 0;
  while (i < sa.segments.size() && j < sb.segments.size()) {
    detail::u128 end = std::min(sa.segments[i].end, sb.segments[j].end);
    if (a.members[sa.segments[i].owner].address != b.members[sb.segments[j].owner].address) moved += end - start;
    start = end;
    if (sa.segments[i].end == end) ++i;
    if (sb.segments[j].end == end) ++j;
  }
  return static_cast<double>(static_cast<long double>(moved) / static_cast<long double>(sa.space));
}

}  // namespace frodo
