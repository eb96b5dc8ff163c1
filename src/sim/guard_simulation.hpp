// A deterministic simulation of the ownership guard (docs/ownership-guard.md, "Proven by
// simulation"). Guarded servers (the real GuardCore and fast path, one per simulated process),
// clients and a model of etcd (revisions, create revisions, leases that expire by etcd's
// clock, per-process watch delivery) run under one virtual clock; every nondeterministic
// choice (delivery delays, which changes one delivery collapses, freezes, partitions,
// crashes, joins, leaves, slow work, clients' stale views) comes from one seed, so a seed
// replays exactly.
//
// Each run checks:
//   order     the store never accepts an event of an id after a later event of that id (a
//             server drops an event the store already has when it admits it, as the alerts
//             server does, so a late duplicate request is not a reordering)
//             (with fencing: always; without: unless the late write comes from an admission
//             outside the assumptions below);
//   token     with fencing, two servers never write one id under the same token;
//   overlap   no two servers' admissions of one id overlap in time, unless one of them is
//             outside the assumptions: its server's lease expired at etcd, or its leave
//             gave up, while it was in flight (a pause or partition longer than the TTL);
//   liveness  once churn has stopped and faults have healed, every id is admitted and
//             written again within a bound.
//
// Thread-safety: run() and shrink() share nothing between calls; call them from any number
// of threads at once.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "frodo/ring.hpp"

namespace frodo::sim {

struct Options {
  std::uint64_t seed = 1;
  bool fencing = true;
  Algorithm algorithm = Algorithm::ketama;
  int initial_servers = 3;
  int max_servers = 5;
  int ids = 4;
  int clients = 2;
  int max_churn_steps = 6;  // each run draws 1..max steps
  // Replay: keep only these churn steps of the plan (indexes); empty: all of them.
  std::vector<int> only;
  bool trace = false;  // keep a trace of every event
  // Servers without the guard: they admit an id whenever it is theirs in their view, with
  // token 0 (what `frodo demo --no-guard` runs). For testing the checker.
  bool unguarded = false;
};

enum class Property { none, order, token, overlap, liveness };
const char* to_string(Property property) noexcept;

struct Result {
  std::uint64_t seed = 0;
  Property failed = Property::none;
  std::string failure;             // what broke, naming the id, servers, tokens and times
  std::string failed_id;           // the id it broke for
  std::int64_t failed_at = 0;      // virtual ms: when it broke (the later admission, the late write)
  std::vector<std::string> plan;   // the churn steps run, "index: time what"
  std::vector<int> steps;          // their indexes in the seed's full plan
  std::vector<std::string> trace;  // with Options::trace
  bool beyond_assumptions = false; // some admission outlived its server's lease at etcd
  std::int64_t admitted = 0;
  std::int64_t redirected = 0;
  std::int64_t waited = 0;
  std::int64_t accepted = 0;  // writes the store accepted
  std::int64_t refused = 0;   // writes the store refused (fencing)
  std::int64_t lease_losses = 0;
  std::int64_t regrants = 0;
  std::int64_t collapsed = 0;  // deliveries that skipped at least one revision
  std::int64_t handoffs = 0;   // admissions of an id by another server than its last writer
  std::int64_t events = 0;     // simulation events processed
  std::int64_t virtual_ms = 0;
};

Result run(const Options& options);

// A failing run cut down to a minimal set of churn steps that still fails (each remaining
// step is needed: without any one of them the run passes). Replays with Options::only.
Result shrink(const Options& options, const Result& failing);

}  // namespace frodo::sim
