// The checker: did the servers apply every acknowledged event exactly once, in order, one
// server at a time?
//
// It compares the store's rows (in global write order) with what the client knows it
// delivered, and counts per host:
//   violations        an applied row whose seq is lower than an earlier applied row's seq of
//                     the same host: an event applied after a later one;
//   duplicates        a (host, seq) applied more than once (every extra row counts);
//   lost              a seq in 1..acknowledged with no applied row at all;
//   final mismatches  the host's last applied row is not its last acknowledged event (seq and
//                     status), nor the event the client gave up on while stopping;
//   token violations  a row (applied or duplicate) whose fencing token is lower than an
//                     earlier row's token of the same host: the store accepted a write from
//                     an owner older than one it had already heard from;
//   overlaps          a row whose admission began while another server's admission of the
//                     same host, begun earlier, had not ended: two servers processed the host
//                     at once. An admission runs from the row's admitted_us to its done_us
//                     (store.hpp); both lie within the server's real admission, so an overlap
//                     found is a real one (a sliver at the end of an admission, after its row
//                     was written, is not looked at).
// Rows are expected to come from one client run on a fresh store.
//
// Pauses. A server frozen past its lease (SIGSTOP, a long GC pause) may hold an admission
// across the moment its lease expired; its write lands whenever it wakes. Without a fencing
// store no lease-based scheme can rule that out (docs/ownership-guard.md). The caller may
// name such pauses; a row of the paused server admitted before the pause began and written
// after it ended is *late*, and the report says which part of each count late rows alone
// explain:
//   - an order or token violation is late when the row is late, or when only late rows
//     before it are ahead of it;
//   - an overlap is late when it involves a late row's time after its pause began (for
//     overlaps, a late row counts as admitted from admitted_us to the start of the pause);
//   - a final mismatch is late when the host's applied rows without the late ones end right.
// Lost events and duplicates are never excused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "acked.hpp"
#include "store.hpp"

namespace alerts {

// A server that was not running from from_us to to_us (monotonic_us()), long enough for its
// lease to expire.
struct Pause {
  std::string server;
  std::int64_t from_us = 0;
  std::int64_t to_us = 0;
};

// Counts that late rows alone explain (a part of the counts of the same name).
struct LateCounts {
  std::int64_t rows = 0;  // late rows
  std::int64_t violations = 0;
  std::int64_t token_violations = 0;
  std::int64_t overlaps = 0;
  std::int64_t final_mismatches = 0;

  std::int64_t problems() const { return violations + token_violations + overlaps + final_mismatches; }
};

struct HostCheck {
  std::string host;
  std::int64_t rows = 0;  // applied rows
  std::int64_t violations = 0;
  std::int64_t duplicates = 0;
  std::int64_t lost = 0;
  std::int64_t token_violations = 0;
  std::int64_t overlaps = 0;
  bool final_mismatch = false;
  Acked acked;                 // what the client acknowledged
  std::int64_t last_seq = 0;   // the host's last applied row in write order (0: none)
  std::string last_status;
  LateCounts late;

  std::int64_t problems() const {
    return violations + duplicates + lost + token_violations + overlaps + (final_mismatch ? 1 : 0);
  }
};

struct CheckReport {
  std::int64_t rows = 0;               // applied rows
  std::int64_t duplicate_answers = 0;  // rows recording "already applied, nothing changed"
  std::int64_t hosts = 0;              // hosts in the rows or the acknowledgements
  std::int64_t acknowledged = 0;       // events acknowledged to the client (sum of last seqs)
  std::int64_t in_flight = 0;          // events given up on unacknowledged
  std::int64_t violations = 0;
  std::int64_t duplicates = 0;
  std::int64_t lost = 0;
  std::int64_t final_mismatches = 0;
  std::int64_t token_violations = 0;
  std::int64_t overlaps = 0;
  LateCounts late;               // the part of the counts above that late rows explain
  // Hosts with problems (at most `worst` of them): most problems late rows do not explain
  // first, then most problems.
  std::vector<HostCheck> worst;

  // Nothing applied out of order, by an older owner after a newer one, or by two servers at
  // once; nothing acknowledged lost; every final state right. Duplicates are reported but
  // tolerated: re-applying an event a client retried leaves the same final state.
  bool ok() const {
    return violations == 0 && lost == 0 && final_mismatches == 0 && token_violations == 0 && overlaps == 0;
  }
  // The same, for everything late rows do not explain.
  bool ok_but_late() const {
    return violations == late.violations && lost == 0 && final_mismatches == late.final_mismatches &&
           token_violations == late.token_violations && overlaps == late.overlaps;
  }
};

CheckReport check(const std::vector<StoreRow>& rows, const std::map<std::string, Acked>& acked,
                  const std::vector<Pause>& pauses = {}, std::size_t worst = 10);

// Whether `row` is late for one of `pauses` (see above).
bool is_late(const StoreRow& row, const std::vector<Pause>& pauses);

// A small aligned table (metric, count, and the late part when there is one), then the worst
// hosts if any.
std::string format_table(const CheckReport& report);

}  // namespace alerts
