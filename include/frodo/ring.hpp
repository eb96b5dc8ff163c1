// Ring: an immutable map from ids to the servers that own them.
//
// A Ring is built once from a list of members and never changes; building happens off the
// lookup path (a new membership means a new Ring). Lookups are const, take no lock and
// write no shared memory, so any number of threads may share one Ring. Copies are cheap
// (they share the built tables).
//
// The answer depends only on the set of members, never on the order they were given in.
//
// Algorithms:
//   ketama (default)  answers exactly as node-hashring 3.2.0 with default options, the ring
//                     frodo.io used: MD5, 40 vnodes per server, 4 points per digest,
//                     floor(weight / total_weight * 40 * server_count) vnodes per server
//                     (in IEEE double, so 7 equal servers get 39 vnodes = 156 points each),
//                     owner = first point >= MD5 point of the id, wrapping. owners(id, n) is
//                     node-hashring's range(id, n). Equal points are ordered by address.
//                     node-hashring hashes ids as UTF-8 strings; frodo hashes the id's bytes
//                     as they are, which is the same for every valid UTF-8 id.
//   maglev            the Maglev lookup table (Eisenbud et al., NSDI 2016): a prime table
//                     size M >= max(65537, 100 * members) taken from a fixed ladder (65537,
//                     then the largest prime below 2^17, 2^18, ...), so M changes only when
//                     the member count crosses a step; offset and skip from 64-bit XXH3
//                     of the address, weights honoured. Lookup is one XXH3 of the id and one
//                     table read; every member owns within 1% of its weighted share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace frodo {

enum class Algorithm { ketama, maglev };

const char* to_string(Algorithm algorithm) noexcept;
// "ketama" or "maglev"; throws Error(invalid_argument) naming the text otherwise.
Algorithm parse_algorithm(std::string_view text);

struct Member {
  std::string address;  // host:port, see address.hpp; what the ring hashes
  double weight = 1;    // in [Ring::min_weight, Ring::max_weight]; shares are proportional to weights
  std::string zone;     // free-form failure domain; not used by the ring itself

  friend bool operator==(const Member&, const Member&) = default;
};

namespace detail {
struct RingState;
}

class Ring {
 public:
  // The most members a ring holds.
  static constexpr std::size_t max_members = 65535;
  // The weight range every entry enforces (library, registry records, servers files, CLI):
  // within it the total of max_members weights stays far from overflow, and no weight is so
  // small that it cannot be told from 0.
  static constexpr double min_weight = 0.001;
  static constexpr double max_weight = 1000000;

  // An empty ring: owner() is always nullopt.
  Ring();
  // Throws Error(invalid_argument) naming the value for a bad address, a weight outside
  // [min_weight, max_weight], a duplicate address, or more than max_members members.
  explicit Ring(std::vector<Member> members, Algorithm algorithm = Algorithm::ketama);

  // The ring of the next membership: answers exactly as Ring(members, algorithm()) (same
  // checksum, owners, shares; the same Error for the same bad list), built from this one so
  // that a change costs in proportion to what changed. For a Cluster's views, where each new
  // membership differs from the last by a few servers.
  //   ketama  keeps every member's points (MD5 once per server and vnode) with the ring it
  //           returns; a change hashes only the vnodes it adds and merges them, and drops the
  //           points that left, in one pass over this ring's sorted points. A ring built by
  //           the constructor keeps no points, so its next() hashes every member once (as
  //           the constructor does) and the ring it returns keeps them.
  //   maglev  builds the table afresh (a join or leave changes which entries every member
  //           claims); nothing is kept between rings.
  // Memory: the returned ring shares the unchanged members' point lists with this one (they
  // are immutable), and holds nothing else of it: each ring is released on its own. Thread
  // safety: const, reads this ring only, so any number of threads may call it on one ring
  // while others look up in it.
  Ring next(std::vector<Member> members) const;

  // The server that owns `id` (any bytes, the empty id included), or nullopt for an empty
  // ring. The view points into this Ring and lives as long as it (or a copy) does.
  std::optional<std::string_view> owner(std::string_view id) const;
  // The same owner as its index in members() (for callers that keep something per member,
  // such as a binding's cached strings), or nullopt for an empty ring.
  std::optional<std::size_t> owner_index(std::string_view id) const;
  // Up to n distinct servers in preference order; the first is owner(id). n larger than the
  // member count yields every server that owns part of the ring.
  std::vector<std::string_view> owners(std::string_view id, std::size_t n) const;

  // Members sorted by address.
  const std::vector<Member>& members() const;
  std::size_t size() const;
  bool empty() const;
  Algorithm algorithm() const;
  // XXH3-64 of the algorithm and the sorted member list (address, weight, zone): two rings
  // with the same checksum answer every lookup alike.
  std::uint64_t checksum() const;
  // The checksum as 16 lowercase hex digits.
  std::string checksum_hex() const;

  // Fraction of the id hash space each member owns, in members() order; sums to 1.
  std::vector<double> shares() const;
  // Bytes held by this ring alone: its lookup structures and its member list (for a ring
  // built by next(), also its pointers to the kept point lists, 16 bytes per member). The
  // memory of one view.
  std::size_t memory_bytes() const;
  // Bytes of what this ring keeps for next() and shares with the rings before and after it:
  // every member's ketama points (about 700 bytes per member at 40 vnodes), counted in full
  // by each ring that holds them. 0 for a ring built by the constructor and for maglev.
  std::size_t shared_bytes() const;

 private:
  explicit Ring(std::shared_ptr<const detail::RingState> state);
  friend double moved_share(const Ring& before, const Ring& after);
  std::shared_ptr<const detail::RingState> state_;
};

// Why `weight` is not allowed ("must be between 0.001 and 1000000"), or nullopt if it is in
// [Ring::min_weight, Ring::max_weight]. The reason does not repeat the value; callers name it.
std::optional<std::string> weight_problem(double weight);

// Fraction of the id hash space whose owner differs between two rings of the same
// algorithm (exact, not sampled). Throws Error(invalid_argument) if the algorithms differ.
double moved_share(const Ring& before, const Ring& after);

}  // namespace frodo
