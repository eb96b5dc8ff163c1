// The parts of `frodo demo` that are pure: the churn plan, what each churn step left in the
// store, the verdict and the report (text and JSON). demo_command.cpp runs the processes and
// fills these records in; tests/unit/demo_report_test.cpp checks them without processes.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "checker.hpp"
#include "event_client.hpp"
#include "store.hpp"

namespace frodo::cli::demo {

// The churn, in the order it runs. Each step touches one server (the victim) that is serving
// and not the last one serving.
enum class ChurnStep {
  freeze_join,      // the victim slows down, then is frozen (SIGSTOP) for half its lease TTL
                    // while a new server joins and gains some of its hosts; then thawed
  partition_past_ttl,  // the victim is cut off from etcd while clients still reach it (its
                       // proxies hold the bytes; TCP stays up): first one way (etcd's answers
                       // held, so etcd keeps hearing its keepalives and keeps the lease past
                       // the victim's own deadline), then both ways until etcd expires it.
                       // It must stop admitting at its own deadline, then rejoin on a new
                       // lease after the heal and gain hosts only after their handoff
  slow_leave,       // the victim slows down (handlers slower than the client's timeout), then
                    // leaves gracefully (SIGTERM) with that slow work in flight
  kill,             // SIGKILL: its hosts move when its lease expires
  freeze_past_ttl,  // frozen for the TTL + 1.5 s: its lease expires while it holds admitted
                    // work; thawed with time left to serve again
};
const char* to_string(ChurnStep step) noexcept;    // "freeze_join", ...
const char* describe(ChurnStep step) noexcept;     // "freeze during a join", ...

// How a server ended the run.
enum class Fate { serving, left, killed };
const char* to_string(Fate fate) noexcept;

// What happened to a server: what the demo did to it, and what the demo's view saw.
enum class Happening {
  started,       // its process started (and joined at once, unless it is the joiner)
  joined,        // first seen in the ring
  slowed,        // SIGUSR1: every event it admits from then on takes the slow work time
  normal_speed,  // SIGUSR2: back to the normal work time
  frozen,        // SIGSTOP
  thawed,        // SIGCONT
  cut_off,       // its connections to etcd black-holed (the partition step)
  healed,        // its connections to etcd pass again
  leaving,       // SIGTERM: it drains, hands over and leaves
  killed,        // SIGKILL
  out_of_ring,   // its record left the ring (left, lease expired) in the demo's view
  back_in_ring,  // in the ring again after being out of it
};
const char* to_string(Happening what) noexcept;

struct ServerEvent {
  Happening what;
  std::int64_t at_us = 0;  // alerts::monotonic_us()
};

// The durations of the churn, all derived from the lease TTL so that a short freeze stays
// inside the lease and a long one outlives it.
struct ChurnTiming {
  std::chrono::milliseconds ttl{2000};
  // The event client's HTTP timeout: a request to a frozen or slow server is retried
  // elsewhere after it, while that server still holds the admission.
  std::chrono::milliseconds client_timeout{500};
  std::chrono::milliseconds catch_up{250};      // the servers' catch-up wait, under the timeout
  std::chrono::milliseconds slow_lead{300};     // how long a victim is slow before it freezes or leaves
  std::chrono::milliseconds slow_work{1500};    // the slow work time: 3 client timeouts
  std::chrono::milliseconds short_freeze{1000};  // TTL / 2: a keepalive is due every TTL / 3
  std::chrono::milliseconds long_freeze{3500};  // TTL + 1.5 s
  // The partition's one-way part: TTL / 2, longer than a keepalive period (TTL / 3), so a
  // keepalive reaches etcd after the victim's last answered one: etcd's expiry comes later
  // than the victim's own deadline, and clients route to it in between.
  std::chrono::milliseconds one_way{1000};
  std::chrono::milliseconds partition{4500};    // one_way + TTL + 1.5 s: etcd expires the lease
  // Kept between the heal and the last step, which needs the healed server serving again (a
  // new lease, its record back, its hosts handed back).
  std::chrono::milliseconds rejoin{2000};
  std::chrono::milliseconds serve_again{3500};  // kept after the last thaw, to serve again
};
ChurnTiming churn_timing(int ttl_s);

struct PlannedStep {
  ChurnStep step;
  double at_s = 0;  // from the start of the event flow: the step's main action (the freeze,
                    // SIGTERM, SIGKILL); a slow lead comes before it
};

// The five steps over `duration_s`, or nullopt when they do not fit (each at least 1 s after
// the previous, the first after 1.5 s of events, the heal of the partition `rejoin` before the
// last step, the thaw of the last serve_again before the end).
std::optional<std::vector<PlannedStep>> plan_churn(int duration_s, const ChurnTiming& timing);
// The shortest duration plan_churn accepts for this timing.
int shortest_churn_duration(const ChurnTiming& timing);

// What one step did. Times are alerts::monotonic_us(); 0 when it did not happen.
struct StepRecord {
  ChurnStep step;
  double planned_s = 0;
  std::string skipped;   // why it did not happen (empty: it happened)
  std::string victim;    // the server it acted on
  std::string joiner;    // freeze_join: the server that joined during the freeze
  std::int64_t begin_us = 0;      // its first action (the slow lead, if any)
  std::int64_t action_us = 0;     // the freeze, SIGTERM or SIGKILL
  std::int64_t thaw_us = 0;       // the freeze steps: SIGCONT; the partition: the heal
  std::int64_t both_ways_us = 0;  // the partition: from one way (answers held) to both ways
  // The partition: its action_us plus the lease TTL. The server's own lease deadline (the
  // send time of its newest answered keepalive plus the TTL) is no later than this.
  std::int64_t lease_deadline_us = 0;
  // The partition: when the victim's own Cluster reported its lease lost (from its log; it
  // does so at its lease deadline when etcd is out of reach); 0: not reported.
  std::int64_t lease_lost_us = 0;
  std::int64_t joiner_signal_us = 0;
  std::int64_t end_us = 0;        // the next step's begin, or the end of the run
  // Filled in from the observer and the client:
  std::int64_t victim_out_us = 0;  // when the victim's record left the ring after action_us
  std::int64_t joined_us = 0;      // freeze_join: when the joiner appeared in the ring
  bool lease_held = true;          // freeze_join: the victim stayed in the ring through the freeze
  std::uint64_t releases = 0;      // guard releases published from begin_us to end_us
  alerts::EventClientCounters client;  // client counters over begin_us..end_us
  // Filled in from the store (step_evidence):
  std::int64_t spanning = 0;  // the victim's admissions open across action_us (and, for the
                              // freezes, across the whole freeze)
  std::int64_t moved = 0;     // of those, hosts whose next row came from another server
  // The partition: the victim's admissions (rows) while cut off, before its lease stopped
  // (lease_lost_us, or lease_deadline_us if that is earlier or there is none), and from that
  // moment + deadline_slack_us until the heal (the guard must admit none).
  std::int64_t admitted_cut_off = 0;
  std::int64_t admitted_past_deadline = 0;
};

// A row's admitted_us is read just after admit() returns, so a thread preempted in between
// stamps an admission made before the deadline a little after it: rows within this much past
// the deadline are not counted as admitted past it.
inline constexpr std::int64_t deadline_slack_us = 100'000;

struct ServerRecord {
  std::string address;
  bool joiner = false;  // started waiting, joined during the churn
  Fate fate = Fate::serving;
  std::vector<ServerEvent> history;
  nlohmann::json stats;  // its own final counters (null when it was killed)
  // From the store:
  std::int64_t applied = 0;              // applied rows it wrote
  std::int64_t last_thaw_us = 0;         // its last thaw or heal; 0: never frozen or cut off
  std::int64_t served_after_thaw = 0;    // applied rows it admitted after last_thaw_us
};

// Fills in spanning/moved of every step, and applied/served_after_thaw of every server.
void step_evidence(const std::vector<alerts::StoreRow>& rows, std::vector<StepRecord>& steps,
                   std::vector<ServerRecord>& servers);
// Hosts whose consecutive applied rows came from different servers (handoffs seen in the data).
std::int64_t host_moves(const std::vector<alerts::StoreRow>& rows);

struct Judgement {
  bool pass = false;
  std::string verdict;  // one line: PASS/FAIL and why
};
// Guard on, fencing on: every count zero, except overlaps with late writes (a write admitted
// before a freeze past the lease that landed before the new owner's first one: fencing keeps
// the order, not mutual exclusion). Guard on, fencing off: every count zero except what late
// rows explain. With the guard on, either way, a server cut off from etcd admits nothing
// past its lease deadline (no step's admitted_past_deadline). Guard off: reported, not
// judged (nothing lost is all it takes).
Judgement judge(const alerts::CheckReport& report, bool guard, bool fencing, const std::vector<StepRecord>& steps);

// What holds in this run, one paragraph.
std::string guarantee(bool guard, bool fencing);

struct DemoFacts {
  bool guard = true;
  bool fencing = true;
  bool churn = true;
  int ttl_s = 2;
  std::size_t hosts = 0;
  double seconds = 0;
  std::int64_t started_us = 0;  // the start of the event flow (monotonic)
  alerts::EventClientCounters client;
  std::uint64_t handoffs = 0;    // guard releases published after the churn began
  std::int64_t host_moves = 0;
  std::uint64_t fenced = 0;      // writes the store refused, over all servers
};

nlohmann::json report_json(const DemoFacts& facts, const alerts::CheckReport& report, const Judgement& judgement,
                           const std::vector<StepRecord>& steps, const std::vector<ServerRecord>& servers);
std::string report_text(const DemoFacts& facts, const alerts::CheckReport& report, const Judgement& judgement,
                        const std::vector<StepRecord>& steps, const std::vector<ServerRecord>& servers);

// 1234567 -> "1,234,567".
std::string with_commas(std::uint64_t n);

}  // namespace frodo::cli::demo
