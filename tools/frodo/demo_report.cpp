#include "demo_report.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstdio>
#include <map>
#include <sstream>
#include <unordered_map>

namespace frodo::cli::demo {
namespace {

using std::chrono::milliseconds;

double seconds(milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

std::string count(std::int64_t n) { return with_commas(static_cast<std::uint64_t>(std::max<std::int64_t>(0, n))); }

// Seconds since the start of the event flow, to a tenth.
double since(const DemoFacts& facts, std::int64_t us) {
  return std::round(static_cast<double>(us - facts.started_us) / 100'000.0) / 10.0;
}

std::string at(const DemoFacts& facts, std::int64_t us) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1fs", since(facts, us));
  return text;
}

const char* plural(std::int64_t n, const char* one, const char* many) { return n == 1 ? one : many; }

}  // namespace

std::string with_commas(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}


const char* to_string(ChurnStep step) noexcept {
  switch (step) {
    case ChurnStep::freeze_join: return "freeze_join";
    case ChurnStep::partition_past_ttl: return "partition_past_ttl";
    case ChurnStep::slow_leave: return "slow_leave";
    case ChurnStep::kill: return "kill";
    case ChurnStep::freeze_past_ttl: return "freeze_past_ttl";
  }
  return "?";
}

const char* describe(ChurnStep step) noexcept {
  switch (step) {
    case ChurnStep::freeze_join: return "freeze during a join";
    case ChurnStep::partition_past_ttl: return "partition past the TTL";
    case ChurnStep::slow_leave: return "slow handlers during a leave";
    case ChurnStep::kill: return "kill";
    case ChurnStep::freeze_past_ttl: return "freeze past the TTL";
  }
  return "?";
}

const char* to_string(Fate fate) noexcept {
  switch (fate) {
    case Fate::serving: return "serving";
    case Fate::left: return "left";
    case Fate::killed: return "killed";
  }
  return "?";
}

const char* to_string(Happening what) noexcept {
  switch (what) {
    case Happening::started: return "started";
    case Happening::joined: return "joined";
    case Happening::slowed: return "slowed";
    case Happening::normal_speed: return "normal_speed";
    case Happening::frozen: return "frozen";
    case Happening::thawed: return "thawed";
    case Happening::cut_off: return "cut_off";
    case Happening::healed: return "healed";
    case Happening::leaving: return "leaving";
    case Happening::killed: return "killed";
    case Happening::out_of_ring: return "out_of_ring";
    case Happening::back_in_ring: return "back_in_ring";
  }
  return "?";
}

ChurnTiming churn_timing(int ttl_s) {
  ChurnTiming t;
  t.ttl = milliseconds(1000LL * std::max(1, ttl_s));
  t.client_timeout = std::min(milliseconds(1000), t.ttl / 4);
  t.catch_up = t.client_timeout / 2;
  t.slow_lead = milliseconds(300);
  t.slow_work = t.client_timeout * 3;
  t.short_freeze = t.ttl / 2;
  t.long_freeze = t.ttl + milliseconds(1500);
  t.one_way = t.ttl / 2;
  t.partition = t.one_way + t.ttl + milliseconds(1500);
  t.rejoin = milliseconds(2000);
  t.serve_again = milliseconds(3500);
  return t;
}

std::optional<std::vector<PlannedStep>> plan_churn(int duration_s, const ChurnTiming& timing) {
  const double d = duration_s;
  const double first = std::max(1.5, 0.12 * d);
  const double last = std::min(d - seconds(timing.serve_again) - seconds(timing.long_freeze), 0.7 * d);
  const double spacing = (last - first) / 4;
  if (spacing < std::max(1.0, seconds(timing.short_freeze))) return std::nullopt;
  // The partition's victim is back (healed, a new lease, its hosts handed back) before the
  // last step, which needs two servers serving.
  if (3 * spacing < seconds(timing.partition) + seconds(timing.rejoin)) return std::nullopt;
  return std::vector<PlannedStep>{{ChurnStep::freeze_join, first},
                                  {ChurnStep::partition_past_ttl, first + spacing},
                                  {ChurnStep::slow_leave, first + 2 * spacing},
                                  {ChurnStep::kill, first + 3 * spacing},
                                  {ChurnStep::freeze_past_ttl, last}};
}

int shortest_churn_duration(const ChurnTiming& timing) {
  for (int d = 2; d <= 100000; ++d) {
    if (plan_churn(d, timing)) return d;
  }
  return 100000;
}

void step_evidence(const std::vector<alerts::StoreRow>& rows, std::vector<StepRecord>& steps,
                   std::vector<ServerRecord>& servers) {
  std::vector<const alerts::StoreRow*> ordered;
  ordered.reserve(rows.size());
  for (const alerts::StoreRow& r : rows) ordered.push_back(&r);
  std::stable_sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->id < b->id; });
  // The next row of the same host, in write order.
  std::unordered_map<const alerts::StoreRow*, const alerts::StoreRow*> next;
  std::unordered_map<std::string, const alerts::StoreRow*> previous;
  for (const alerts::StoreRow* r : ordered) {
    auto [it, fresh] = previous.try_emplace(r->host, r);
    if (!fresh) {
      next[it->second] = r;
      it->second = r;
    }
  }
  for (StepRecord& s : steps) {
    s.spanning = s.moved = s.admitted_cut_off = s.admitted_past_deadline = 0;
    if (!s.skipped.empty() || s.victim.empty() || s.action_us == 0 || s.step == ChurnStep::kill) continue;
    if (s.step == ChurnStep::partition_past_ttl) {
      const std::int64_t until = s.thaw_us != 0 ? s.thaw_us : std::numeric_limits<std::int64_t>::max();
      const std::int64_t stopped =
          s.lease_lost_us != 0 ? std::min(s.lease_deadline_us, s.lease_lost_us) : s.lease_deadline_us;
      for (const alerts::StoreRow* r : ordered) {
        if (r->server != s.victim || r->admitted_us < s.action_us || r->admitted_us >= until) continue;
        if (r->admitted_us < stopped) {
          ++s.admitted_cut_off;
        } else if (r->admitted_us >= stopped + deadline_slack_us) {
          ++s.admitted_past_deadline;
        }
      }
      continue;
    }
    const bool freeze = s.step == ChurnStep::freeze_join || s.step == ChurnStep::freeze_past_ttl;
    const std::int64_t until = freeze && s.thaw_us != 0 ? s.thaw_us : s.action_us;
    for (const alerts::StoreRow* r : ordered) {
      if (r->server != s.victim || r->admitted_us >= s.action_us || r->done_us <= until) continue;
      ++s.spanning;
      auto n = next.find(r);
      if (n != next.end() && n->second->server != s.victim) ++s.moved;
    }
  }
  for (ServerRecord& server : servers) {
    server.applied = server.served_after_thaw = 0;
    for (const alerts::StoreRow* r : ordered) {
      if (r->server != server.address || r->result != alerts::RowResult::applied) continue;
      ++server.applied;
      if (server.last_thaw_us != 0 && r->admitted_us > server.last_thaw_us) ++server.served_after_thaw;
    }
  }
}

std::int64_t host_moves(const std::vector<alerts::StoreRow>& rows) {
  std::vector<const alerts::StoreRow*> ordered;
  for (const alerts::StoreRow& r : rows) {
    if (r.result == alerts::RowResult::applied) ordered.push_back(&r);
  }
  std::stable_sort(ordered.begin(), ordered.end(), [](auto* a, auto* b) { return a->id < b->id; });
  std::unordered_map<std::string, const std::string*> last_server;
  std::int64_t moves = 0;
  for (const alerts::StoreRow* r : ordered) {
    auto [it, fresh] = last_server.try_emplace(r->host, &r->server);
    if (!fresh && *it->second != r->server) ++moves;
    it->second = &r->server;
  }
  return moves;
}

Judgement judge(const alerts::CheckReport& r, bool guard, bool fencing, const std::vector<StepRecord>& steps) {
  Judgement j;
  std::ostringstream why;
  if (!guard) {
    j.pass = r.lost == 0;
    why << (j.pass ? "reported (guard off): " : "FAIL (guard off): ") << r.violations << " order violations, "
        << r.duplicates << " duplicates, " << r.token_violations << " token decreases, " << r.overlaps
        << " overlapping admissions, " << r.final_mismatches << " hosts whose final status is wrong, " << r.lost
        << " lost; run without --no-guard to see the guard keep them at 0";
    j.verdict = why.str();
    return j;
  }
  // What may be explained by late rows: with fencing only overlaps (the store keeps the order of
  // what it accepts), without fencing all of it.
  const std::int64_t violations = r.violations - (fencing ? 0 : r.late.violations);
  const std::int64_t tokens = r.token_violations - (fencing ? 0 : r.late.token_violations);
  const std::int64_t finals = r.final_mismatches - (fencing ? 0 : r.late.final_mismatches);
  const std::int64_t overlaps = r.overlaps - r.late.overlaps;
  std::int64_t past_deadline = 0;
  for (const StepRecord& s : steps) past_deadline += s.admitted_past_deadline;
  j.pass = violations == 0 && tokens == 0 && finals == 0 && overlaps == 0 && r.lost == 0 && past_deadline == 0;
  if (!j.pass) {
    why << "FAIL - ";
    if (past_deadline > 0) {
      why << "a server cut off from etcd admitted " << past_deadline << " " << plural(past_deadline, "event", "events")
          << " after its lease deadline (the guard's rule 5); ";
    }
    why << "the guarded run broke its guarantee: " << violations << " order violations, " << tokens
        << " token decreases, " << overlaps << " overlapping admissions, " << finals << " wrong final statuses, "
        << r.lost << " lost events" << (r.late.rows > 0 ? " (not counting what late writes explain)" : "");
    j.verdict = why.str();
    return j;
  }
  why << "PASS - every host's events were applied once, in order, by one server at a time";
  const std::int64_t excused = fencing ? r.late.overlaps : r.late.problems();
  if (excused > 0) {
    why << ", except what the " << r.late.rows << " late " << plural(r.late.rows, "write", "writes")
        << " of the server frozen past its lease did: ";
    if (fencing) {
      why << r.late.overlaps << " overlapping admissions (they landed before the new owner's first write; "
          << "fencing kept the order)";
    } else {
      why << r.late.violations << " order violations, " << r.late.token_violations << " token decreases, "
          << r.late.overlaps << " overlapping admissions, " << r.late.final_mismatches
          << " wrong final statuses (outside the guard's no-fencing guarantee)";
    }
  }
  j.verdict = why.str();
  return j;
}

std::string guarantee(bool guard, bool fencing) {
  if (!guard) {
    return "guard off: each server processes what plain server_by_id says it owns in its own view; "
           "nothing keeps two servers from working on one host during a handoff.";
  }
  if (fencing) {
    return "fencing on: the store refuses a token older than the newest it accepted for a host, so a "
           "server frozen past its lease cannot apply stale work after the new owner's first write; "
           "without a pause past the lease, the guard alone already keeps one server at a time (a "
           "server cut off from etcd stops admitting at its own lease deadline, before etcd can hand "
           "its hosts over).";
  }
  return "fencing off: the store accepts any token, so the guard alone keeps each host with one server "
         "at a time, in order. That holds as long as no server pauses until its lease expires (a server "
         "cut off from etcd keeps running and stops admitting at its own lease deadline); a freeze "
         "past the TTL is outside the guard's no-fencing guarantee: work admitted before it and written "
         "after it (late writes) may land after the new owner's, and is counted apart.";
}

nlohmann::json report_json(const DemoFacts& facts, const alerts::CheckReport& r, const Judgement& judgement,
                           const std::vector<StepRecord>& steps, const std::vector<ServerRecord>& servers) {
  using nlohmann::json;
  auto when = [&](std::int64_t us) -> json { return us == 0 ? json(nullptr) : json(since(facts, us)); };
  json steps_json = json::array();
  for (const StepRecord& s : steps) {
    json j = {{"step", to_string(s.step)},
              {"planned_at", s.planned_s},
              {"happened", s.skipped.empty() && s.action_us != 0},
              {"skipped", s.skipped},
              {"victim", s.victim},
              {"begin_at", when(s.begin_us)},
              {"action_at", when(s.action_us)},
              {"victim_out_of_ring_at", when(s.victim_out_us)},
              {"spanning", s.spanning},
              {"moved", s.moved},
              {"releases", s.releases},
              {"acknowledged", s.client.acknowledged},
              {"waits", s.client.waits},
              {"handoff_waits", s.client.handoff_waits}};
    if (s.step == ChurnStep::freeze_join || s.step == ChurnStep::freeze_past_ttl) j["thaw_at"] = when(s.thaw_us);
    if (s.step == ChurnStep::partition_past_ttl) {
      j["heal_at"] = when(s.thaw_us);
      j["both_ways_at"] = when(s.both_ways_us);
      j["lease_deadline_at"] = when(s.lease_deadline_us);
      j["lease_lost_at"] = when(s.lease_lost_us);
      j["admitted_cut_off"] = s.admitted_cut_off;
      j["admitted_past_deadline"] = s.admitted_past_deadline;
    }
    if (s.step == ChurnStep::freeze_join) {
      j["joiner"] = s.joiner;
      j["joiner_signalled_at"] = when(s.joiner_signal_us);
      j["joined_at"] = when(s.joined_us);
      j["lease_held"] = s.lease_held;
    }
    steps_json.push_back(std::move(j));
  }
  json servers_json = json::array();
  for (const ServerRecord& s : servers) {
    json history = json::array();
    for (const ServerEvent& e : s.history) history.push_back({{"event", to_string(e.what)}, {"at", since(facts, e.at_us)}});
    json j = {{"address", s.address}, {"fate", to_string(s.fate)}, {"joiner", s.joiner},
              {"history", history},   {"applied", s.applied},      {"stats", s.stats}};
    if (s.last_thaw_us != 0) {
      j["thawed_at"] = since(facts, s.last_thaw_us);  // or healed
      j["served_after_thaw"] = s.served_after_thaw;
    }
    servers_json.push_back(std::move(j));
  }
  return {{"guard", facts.guard},
          {"fencing", facts.fencing},
          {"churn", facts.churn},
          {"ttl", facts.ttl_s},
          {"guarantee", guarantee(facts.guard, facts.fencing)},
          {"seconds", facts.seconds},
          {"hosts", facts.hosts},
          {"acknowledged", r.acknowledged},
          {"in_flight", r.in_flight},
          {"events_per_second", static_cast<double>(facts.client.acknowledged) / std::max(1e-3, facts.seconds)},
          {"redirects", facts.client.redirects},
          {"waits", facts.client.waits},
          {"handoff_waits", facts.client.handoff_waits},
          {"retries", facts.client.retries},
          {"handoffs", facts.handoffs},
          {"host_moves", facts.host_moves},
          {"fenced", facts.fenced},
          {"rows", r.rows},
          {"duplicate_answers", r.duplicate_answers},
          {"violations", r.violations},
          {"duplicates", r.duplicates},
          {"lost", r.lost},
          {"final_mismatches", r.final_mismatches},
          {"token_violations", r.token_violations},
          {"overlaps", r.overlaps},
          {"late",
           {{"rows", r.late.rows},
            {"violations", r.late.violations},
            {"token_violations", r.late.token_violations},
            {"overlaps", r.late.overlaps},
            {"final_mismatches", r.late.final_mismatches}}},
          {"ok", r.ok()},
          {"pass", judgement.pass},
          {"judgement", judgement.verdict},
          {"steps", steps_json},
          {"servers", servers_json}};
}

std::string report_text(const DemoFacts& facts, const alerts::CheckReport& r, const Judgement& judgement,
                        const std::vector<StepRecord>& steps, const std::vector<ServerRecord>& servers) {
  std::ostringstream out;
  out << "\n" << alerts::format_table(r);
  if (!steps.empty()) {
    out << "\nchurn (seconds since the events began):\n";
    for (const StepRecord& s : steps) {
      char head[96];
      std::snprintf(head, sizeof head, "  %6s  %-29s ", s.action_us ? at(facts, s.action_us).c_str() : "-",
                    describe(s.step));
      out << head;
      if (!s.skipped.empty()) {
        out << "skipped: " << s.skipped << "\n";
        continue;
      }
      if (s.action_us == 0) {
        char planned[64];
        std::snprintf(planned, sizeof planned, "not reached (planned at %.1fs)\n", s.planned_s);
        out << planned;
        continue;
      }
      const std::string indent(41, ' ');
      switch (s.step) {
        case ChurnStep::freeze_join:
          out << s.victim << " slowed at " << at(facts, s.begin_us) << ", SIGSTOP at " << at(facts, s.action_us);
          if (s.thaw_us) out << ", SIGCONT at " << at(facts, s.thaw_us);
          out << (s.lease_held ? " (its lease held)" : " (its lease EXPIRED: counted as a pause past the lease)")
              << "\n" << indent;
          if (!s.joiner.empty()) {
            out << s.joiner << " joined during the freeze"
                << (s.joined_us ? " (in the ring at " + at(facts, s.joined_us) + ")" : " (never seen in the ring)");
          }
          out << "\n" << indent << s.spanning << " " << plural(s.spanning, "admission", "admissions")
              << " of the frozen server spanned the freeze, " << s.moved << " of their hosts then moved; "
              << s.client.handoff_waits << " 'handoff' waits, " << s.releases << " releases\n";
          break;
        case ChurnStep::partition_past_ttl:
          out << s.victim << " cut off from etcd (its answers held at " << at(facts, s.action_us);
          if (s.both_ways_us) out << ", both ways at " << at(facts, s.both_ways_us);
          out << "; clients still reach it)";
          if (s.victim_out_us) out << ", out of the ring at " << at(facts, s.victim_out_us) << " (lease expired)";
          if (s.thaw_us) out << ", healed at " << at(facts, s.thaw_us);
          out << "\n" << indent << "lease lost by its own clock at "
              << (s.lease_lost_us ? at(facts, s.lease_lost_us) : std::string("- (not reported)")) << " (deadline by "
              << at(facts, s.lease_deadline_us) << "); " << s.admitted_cut_off << " "
              << plural(s.admitted_cut_off, "admission", "admissions") << " before, " << s.admitted_past_deadline
              << " after; " << s.client.handoff_waits << " 'handoff' waits, "
              << s.releases << " releases\n";
          break;
        case ChurnStep::slow_leave:
          out << s.victim << " slowed at " << at(facts, s.begin_us) << ", SIGTERM at " << at(facts, s.action_us);
          if (s.victim_out_us) out << ", out of the ring at " << at(facts, s.victim_out_us);
          out << "\n" << indent << s.spanning << " slow " << plural(s.spanning, "admission", "admissions")
              << " spanned the start of the leave, " << s.moved << " of their hosts then moved; "
              << s.client.handoff_waits << " 'handoff' waits, " << s.releases << " releases\n";
          break;
        case ChurnStep::kill:
          out << "SIGKILL " << s.victim;
          if (s.victim_out_us) out << ", out of the ring at " << at(facts, s.victim_out_us) << " (lease expired)";
          out << "; " << s.releases << " releases\n";
          break;
        case ChurnStep::freeze_past_ttl:
          out << "SIGSTOP " << s.victim;
          if (s.victim_out_us) out << ", out of the ring at " << at(facts, s.victim_out_us) << " (lease expired)";
          if (s.thaw_us) out << ", SIGCONT at " << at(facts, s.thaw_us);
          out << "\n" << indent << s.spanning << " late " << plural(s.spanning, "write", "writes")
              << " accepted by the store, " << facts.fenced << " refused (fenced); " << s.releases << " releases\n";
          break;
      }
    }
  }
  if (!servers.empty()) {
    out << "\nservers:\n";
    for (const ServerRecord& s : servers) {
      char head[128];
      std::snprintf(head, sizeof head, "  %-22s %-8s applied %-9s", s.address.c_str(), to_string(s.fate),
                    count(s.applied).c_str());
      out << head;
      for (const ServerEvent& e : s.history) {
        // The start-up (before the events began) is the same for every server but the joiner.
        if (!s.joiner && e.at_us < facts.started_us) continue;
        out << " " << to_string(e.what) << " " << at(facts, e.at_us) << ";";
      }
      if (s.last_thaw_us != 0) out << " served " << count(s.served_after_thaw) << " events after its last thaw or heal";
      out << "\n";
    }
  }
  out << "\n  " << with_commas(facts.client.acknowledged) << " events acknowledged in "
      << static_cast<int>(facts.seconds) << " s ("
      << with_commas(static_cast<std::uint64_t>(static_cast<double>(facts.client.acknowledged) / std::max(1e-3, facts.seconds)))
      << " events/s), " << with_commas(facts.client.redirects) << " redirects, "
      << with_commas(facts.client.handoff_waits) << " 'handoff' waits, " << with_commas(facts.handoffs)
      << " releases after the churn began, " << count(facts.host_moves) << " host moves, " << facts.fenced
      << " stale writes fenced by the store\n";
  out << "  " << guarantee(facts.guard, facts.fencing) << "\n\n";
  out << "verdict: " << judgement.verdict << "\n";
  return out.str();
}

}  // namespace frodo::cli::demo
