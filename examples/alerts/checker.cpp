#include "checker.hpp"

#include <algorithm>
#include <cstdio>
#include <set>
#include <unordered_map>

namespace alerts {
namespace {

struct HostRows {
  std::int64_t rows = 0;
  std::int64_t max_seq = 0;
  std::set<std::int64_t> seen;
  std::int64_t violations = 0;
  std::int64_t duplicates = 0;
  std::int64_t last_seq = 0;
  std::string last_status;
};

}  // namespace

CheckReport check(const std::vector<AppliedRow>& rows, const std::map<std::string, Acked>& acked,
                  std::size_t worst) {
  std::unordered_map<std::string, HostRows> by_host;
  // Rows may come in any order: their ids are the write order.
  std::vector<const AppliedRow*> ordered;
  ordered.reserve(rows.size());
  for (const AppliedRow& row : rows) ordered.push_back(&row);
  std::stable_sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->id < b->id; });
  for (const AppliedRow* row : ordered) {
    HostRows& h = by_host[row->host];
    ++h.rows;
    if (row->seq < h.max_seq) ++h.violations;
    if (!h.seen.insert(row->seq).second) ++h.duplicates;
    h.max_seq = std::max(h.max_seq, row->seq);
    h.last_seq = row->seq;
    h.last_status = row->status;
  }

  std::set<std::string> hosts;
  for (const auto& [host, _] : by_host) hosts.insert(host);
  for (const auto& [host, _] : acked) hosts.insert(host);

  CheckReport report;
  report.rows = static_cast<std::int64_t>(rows.size());
  report.hosts = static_cast<std::int64_t>(hosts.size());
  std::vector<HostCheck> problems;
  static const HostRows no_rows;
  static const Acked nothing_acked;
  for (const std::string& host : hosts) {
    auto r = by_host.find(host);
    const HostRows& h = r == by_host.end() ? no_rows : r->second;
    auto a = acked.find(host);
    const Acked& ack = a == acked.end() ? nothing_acked : a->second;

    HostCheck c{host, h.rows, h.violations, h.duplicates, 0, false, ack, h.last_seq, h.last_status};
    for (std::int64_t seq = 1; seq <= ack.seq; ++seq) c.lost += h.seen.contains(seq) ? 0 : 1;
    bool last_is_acked = h.last_seq == ack.seq && (ack.seq == 0 || h.last_status == ack.status);
    bool last_is_in_flight =
        ack.in_flight_seq != 0 && h.last_seq == ack.in_flight_seq && h.last_status == ack.in_flight_status;
    c.final_mismatch = !last_is_acked && !last_is_in_flight;

    report.acknowledged += ack.seq;
    report.in_flight += ack.in_flight_seq != 0 ? 1 : 0;
    report.violations += c.violations;
    report.duplicates += c.duplicates;
    report.lost += c.lost;
    report.final_mismatches += c.final_mismatch ? 1 : 0;
    if (c.problems() > 0) problems.push_back(std::move(c));
  }
  std::stable_sort(problems.begin(), problems.end(),
                   [](const HostCheck& a, const HostCheck& b) { return a.problems() > b.problems(); });
  if (problems.size() > worst) problems.resize(worst);
  report.worst = std::move(problems);
  return report;
}

std::string format_table(const CheckReport& report) {
  std::string out;
  char line[640];  // a host name is at most 253 characters
  auto row = [&](const char* metric, std::int64_t count) {
    std::snprintf(line, sizeof line, "%-22s %10lld\n", metric, static_cast<long long>(count));
    out += line;
  };
  std::snprintf(line, sizeof line, "%-22s %10s\n", "metric", "count");
  out += line;
  row("applied rows", report.rows);
  row("hosts", report.hosts);
  row("acknowledged events", report.acknowledged);
  row("in flight at stop", report.in_flight);
  row("order violations", report.violations);
  row("duplicates", report.duplicates);
  row("lost events", report.lost);
  row("final mismatches", report.final_mismatches);
  if (report.worst.empty()) return out;

  auto state = [](std::int64_t seq, const std::string& status) {
    return seq == 0 ? std::string("-") : std::to_string(seq) + " " + status;
  };
  std::snprintf(line, sizeof line, "\n%-16s %10s %10s %6s %6s  %-12s %-12s\n", "worst hosts", "violations",
                "duplicates", "lost", "final", "acked", "last applied");
  out += line;
  for (const HostCheck& c : report.worst) {
    std::snprintf(line, sizeof line, "%-16s %10lld %10lld %6lld %6s  %-12s %-12s\n", c.host.c_str(),
                  static_cast<long long>(c.violations), static_cast<long long>(c.duplicates),
                  static_cast<long long>(c.lost), c.final_mismatch ? "wrong" : "ok",
                  state(c.acked.seq, c.acked.status).c_str(), state(c.last_seq, c.last_status).c_str());
    out += line;
  }
  return out;
}

}  // namespace alerts
