// The checker: did the servers apply every acknowledged event exactly once, in order?
//
// It compares the store's applied rows (in global write order) with what the client
// knows it delivered, and counts per host:
//   violations        a row whose seq is lower than an earlier row's seq of the same host:
//                     an event applied after a later one;
//   duplicates        a (host, seq) applied more than once (every extra row counts);
//   lost              a seq in 1..acknowledged with no row at all;
//   final mismatches  the host's last row is not its last acknowledged event (seq and
//                     status), nor the event the client gave up on while stopping.
// Rows are expected to come from one client run on a fresh store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "acked.hpp"
#include "store.hpp"

namespace alerts {

struct HostCheck {
  std::string host;
  std::int64_t rows = 0;
  std::int64_t violations = 0;
  std::int64_t duplicates = 0;
  std::int64_t lost = 0;
  bool final_mismatch = false;
  Acked acked;                 // what the client acknowledged
  std::int64_t last_seq = 0;   // the host's last row in write order (0: none)
  std::string last_status;

  std::int64_t problems() const { return violations + duplicates + lost + (final_mismatch ? 1 : 0); }
};

struct CheckReport {
  std::int64_t rows = 0;
  std::int64_t hosts = 0;         // hosts in the rows or the acknowledgements
  std::int64_t acknowledged = 0;  // events acknowledged to the client (sum of last seqs)
  std::int64_t in_flight = 0;     // events given up on unacknowledged
  std::int64_t violations = 0;
  std::int64_t duplicates = 0;
  std::int64_t lost = 0;
  std::int64_t final_mismatches = 0;
  std::vector<HostCheck> worst;  // hosts with problems, most first (at most `worst` of them)

  // Nothing applied out of order, nothing acknowledged lost, every final state right.
  // Duplicates are reported but tolerated: re-applying an event a client retried leaves
  // the same final state.
  bool ok() const { return violations == 0 && lost == 0 && final_mismatches == 0; }
};

CheckReport check(const std::vector<AppliedRow>& rows, const std::map<std::string, Acked>& acked,
                  std::size_t worst = 10);

// A small aligned table (metric, count), then the worst hosts if any.
std::string format_table(const CheckReport& report);

}  // namespace alerts
