#include "checker.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <set>
#include <unordered_map>

namespace alerts {
namespace {

constexpr std::int64_t never = std::numeric_limits<std::int64_t>::min();

// The pause `row` is late for, if any.
const Pause* late_pause(const StoreRow& row, const std::vector<Pause>& pauses) {
  for (const Pause& p : pauses) {
    if (row.server == p.server && row.admitted_us < p.from_us && row.done_us > p.to_us) return &p;
  }
  return nullptr;
}

// The latest end of admission of two different servers, so that "the latest end among the
// servers other than S" is known for any S without keeping every server.
class LatestEnds {
 public:
  void add(const std::string& server, std::int64_t done) {
    if (first_server_ && *first_server_ == server) {
      first_ = std::max(first_, done);
    } else if (done > first_) {
      second_ = first_;  // a different server's: the latest among the others now
      first_ = done;
      first_server_ = &server;
    } else {
      second_ = std::max(second_, done);
    }
  }
  std::int64_t latest_other_than(const std::string& server) const {
    return first_server_ && *first_server_ == server ? second_ : first_;
  }

 private:
  std::int64_t first_ = never;
  const std::string* first_server_ = nullptr;
  std::int64_t second_ = never;  // the latest among the servers other than first_server_
};

struct Interval {
  const StoreRow* row;
  std::int64_t done_effective;  // done_us, or the start of the pause for a late row
};

struct HostRows {
  std::int64_t rows = 0;
  std::int64_t duplicate_answers = 0;
  std::int64_t max_seq = 0, max_seq_on_time = 0;
  std::int64_t max_token = never, max_token_on_time = never;
  std::set<std::int64_t> seen;
  std::int64_t violations = 0;
  std::int64_t duplicates = 0;
  std::int64_t token_violations = 0;
  std::int64_t overlaps = 0;
  std::int64_t last_seq = 0, last_seq_on_time = 0;
  std::string last_status, last_status_on_time;
  LateCounts late;
  std::vector<Interval> intervals;
};

bool final_is_right(std::int64_t last_seq, const std::string& last_status, const Acked& ack) {
  bool last_is_acked = last_seq == ack.seq && (ack.seq == 0 || last_status == ack.status);
  bool last_is_in_flight = ack.in_flight_seq != 0 && last_seq == ack.in_flight_seq && last_status == ack.in_flight_status;
  return last_is_acked || last_is_in_flight;
}

// Counts the rows whose admission began while another server's, begun earlier, was still
// open: with the real intervals (all), and with late rows cut at their pause (on time).
void count_overlaps(HostRows& h) {
  std::stable_sort(h.intervals.begin(), h.intervals.end(), [](const Interval& a, const Interval& b) {
    return a.row->admitted_us < b.row->admitted_us;
  });
  LatestEnds all, on_time;
  for (const Interval& i : h.intervals) {
    const StoreRow& r = *i.row;
    bool overlaps = all.latest_other_than(r.server) > r.admitted_us;
    bool overlaps_on_time = on_time.latest_other_than(r.server) > r.admitted_us;
    if (overlaps) ++h.overlaps;
    if (overlaps && !overlaps_on_time) ++h.late.overlaps;
    all.add(r.server, r.done_us);
    on_time.add(r.server, i.done_effective);
  }
}

}  // namespace

bool is_late(const StoreRow& row, const std::vector<Pause>& pauses) { return late_pause(row, pauses) != nullptr; }

CheckReport check(const std::vector<StoreRow>& rows, const std::map<std::string, Acked>& acked,
                  const std::vector<Pause>& pauses, std::size_t worst) {
  std::unordered_map<std::string, HostRows> by_host;
  // Rows may come in any order: their ids are the write order.
  std::vector<const StoreRow*> ordered;
  ordered.reserve(rows.size());
  for (const StoreRow& row : rows) ordered.push_back(&row);
  std::stable_sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (const StoreRow* row : ordered) {
    HostRows& h = by_host[row->host];
    const Pause* pause = late_pause(*row, pauses);
    bool late = pause != nullptr;
    h.late.rows += late ? 1 : 0;
    h.intervals.push_back({row, late ? pause->from_us : row->done_us});

    // Tokens: every row the store accepted, answers of "already applied" included.
    if (row->token < h.max_token) {
      ++h.token_violations;
      if (late || row->token >= h.max_token_on_time) ++h.late.token_violations;
    }
    h.max_token = std::max(h.max_token, row->token);
    if (!late) h.max_token_on_time = std::max(h.max_token_on_time, row->token);

    if (row->result == RowResult::duplicate) {
      ++h.duplicate_answers;
      continue;
    }
    ++h.rows;
    if (row->seq < h.max_seq) {
      ++h.violations;
      if (late || row->seq >= h.max_seq_on_time) ++h.late.violations;
    }
    if (!h.seen.insert(row->seq).second) ++h.duplicates;
    h.max_seq = std::max(h.max_seq, row->seq);
    h.last_seq = row->seq;
    h.last_status = row->status;
    if (!late) {
      h.max_seq_on_time = std::max(h.max_seq_on_time, row->seq);
      h.last_seq_on_time = row->seq;
      h.last_status_on_time = row->status;
    }
  }
  for (auto& [host, h] : by_host) count_overlaps(h);

  std::set<std::string> hosts;
  for (const auto& [host, _] : by_host) hosts.insert(host);
  for (const auto& [host, _] : acked) hosts.insert(host);

  CheckReport report;
  report.hosts = static_cast<std::int64_t>(hosts.size());
  std::vector<HostCheck> problems;
  static const HostRows no_rows;
  static const Acked nothing_acked;
  for (const std::string& host : hosts) {
    auto r = by_host.find(host);
    const HostRows& h = r == by_host.end() ? no_rows : r->second;
    auto a = acked.find(host);
    const Acked& ack = a == acked.end() ? nothing_acked : a->second;

    HostCheck c;
    c.host = host;
    c.rows = h.rows;
    c.violations = h.violations;
    c.duplicates = h.duplicates;
    c.token_violations = h.token_violations;
    c.overlaps = h.overlaps;
    c.acked = ack;
    c.last_seq = h.last_seq;
    c.last_status = h.last_status;
    c.late = h.late;
    for (std::int64_t seq = 1; seq <= ack.seq; ++seq) c.lost += h.seen.contains(seq) ? 0 : 1;
    c.final_mismatch = !final_is_right(h.last_seq, h.last_status, ack);
    if (c.final_mismatch && final_is_right(h.last_seq_on_time, h.last_status_on_time, ack)) c.late.final_mismatches = 1;

    report.rows += h.rows;
    report.duplicate_answers += h.duplicate_answers;
    report.acknowledged += ack.seq;
    report.in_flight += ack.in_flight_seq != 0 ? 1 : 0;
    report.violations += c.violations;
    report.duplicates += c.duplicates;
    report.lost += c.lost;
    report.final_mismatches += c.final_mismatch ? 1 : 0;
    report.token_violations += c.token_violations;
    report.overlaps += c.overlaps;
    report.late.rows += c.late.rows;
    report.late.violations += c.late.violations;
    report.late.token_violations += c.late.token_violations;
    report.late.overlaps += c.late.overlaps;
    report.late.final_mismatches += c.late.final_mismatches;
    if (c.problems() > 0) problems.push_back(std::move(c));
  }
  // Hosts with problems late rows do not explain first: those are the ones to look at.
  std::stable_sort(problems.begin(), problems.end(), [](const HostCheck& a, const HostCheck& b) {
    std::int64_t a_own = a.problems() - a.late.problems(), b_own = b.problems() - b.late.problems();
    return a_own != b_own ? a_own > b_own : a.problems() > b.problems();
  });
  if (problems.size() > worst) problems.resize(worst);
  report.worst = std::move(problems);
  return report;
}

std::string format_table(const CheckReport& report) {
  std::string out;
  char line[640];  // a host name is at most 253 characters
  const bool with_late = report.late.rows > 0;
  auto row = [&](const char* metric, std::int64_t count, std::int64_t late = -1) {
    if (with_late && late >= 0) {
      std::snprintf(line, sizeof line, "%-24s %10lld %10lld\n", metric, static_cast<long long>(count),
                    static_cast<long long>(late));
    } else {
      std::snprintf(line, sizeof line, "%-24s %10lld\n", metric, static_cast<long long>(count));
    }
    out += line;
  };
  if (with_late) {
    std::snprintf(line, sizeof line, "%-24s %10s %10s\n", "metric", "count", "late");
  } else {
    std::snprintf(line, sizeof line, "%-24s %10s\n", "metric", "count");
  }
  out += line;
  row("applied rows", report.rows, report.late.rows);
  row("already-applied answers", report.duplicate_answers);
  row("hosts", report.hosts);
  row("acknowledged events", report.acknowledged);
  row("in flight at stop", report.in_flight);
  row("order violations", report.violations, report.late.violations);
  row("duplicates", report.duplicates);
  row("lost events", report.lost);
  row("final mismatches", report.final_mismatches, report.late.final_mismatches);
  row("token decreases", report.token_violations, report.late.token_violations);
  row("overlapping admissions", report.overlaps, report.late.overlaps);
  if (report.worst.empty()) return out;

  auto state = [](std::int64_t seq, const std::string& status) {
    return seq == 0 ? std::string("-") : std::to_string(seq) + " " + status;
  };
  std::snprintf(line, sizeof line, "\n%-16s %10s %10s %6s %6s %8s %8s  %-12s %-12s\n", "worst hosts", "violations",
                "duplicates", "lost", "final", "tokens", "overlaps", "acked", "last applied");
  out += line;
  for (const HostCheck& c : report.worst) {
    std::snprintf(line, sizeof line, "%-16s %10lld %10lld %6lld %6s %8lld %8lld  %-12s %-12s\n", c.host.c_str(),
                  static_cast<long long>(c.violations), static_cast<long long>(c.duplicates),
                  static_cast<long long>(c.lost), c.final_mismatch ? "wrong" : "ok",
                  static_cast<long long>(c.token_violations), static_cast<long long>(c.overlaps),
                  state(c.acked.seq, c.acked.status).c_str(), state(c.last_seq, c.last_status).c_str());
    out += line;
  }
  return out;
}

}  // namespace alerts
