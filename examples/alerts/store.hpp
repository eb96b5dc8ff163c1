// Store: the alert database, one SQLite file shared by every alert server on one machine.
//
// It stands for the system of record behind an entity-affinity tier: it orders all writes
// globally (the `events` table's row ids), so a checker can replay exactly what happened.
//
//   events(id INTEGER PRIMARY KEY AUTOINCREMENT, host, seq, status, result, token, server,
//          admitted_us, done_us, at_us)
//   hosts(host PRIMARY KEY, seq, status, token)
//
// `events` holds one row for every event a server acted on: `applied` (the host's state was
// changed) or `duplicate` (the server found the seq already applied and changed nothing: the
// answer is recorded so that the checker also sees admissions that ended without a write).
// Each row carries the server's admission: its fencing token, and the interval from the
// moment the server admitted the event (admitted_us) to the moment this row was written
// (done_us, taken while the write lock is held, so done_us grows with the row id), both in
// microseconds of CLOCK_MONOTONIC, which every process on one Linux machine shares. at_us is
// the wall clock at the write, for people. The file records its format in SQLite's
// user_version (2); a store written by an older version of the example is refused, naming the
// file, rather than mixed with rows that have no admission interval.
//
// Contract:
// - apply() and record_duplicate() are each one BEGIN IMMEDIATE transaction. With fencing
//   (the default) they refuse (`fenced`, nothing written) a row whose token is lower than the
//   newest token accepted for that host, duplicates included: a server that lost the host
//   during a pause cannot overwrite its new owner's work. Token 0 (unguarded servers) is never
//   fenced as long as nobody wrote with a higher token. Without fencing
//   (StoreOptions::fencing = false) every row is accepted, as by a store that knows nothing
//   of tokens; the tokens are still recorded.
// - It does not look at seq: it neither refuses nor reorders old events. Ordering is the
//   servers' job, and the checker must see what they did when they get it wrong.
// - Several Store objects, in one process or several, may use one file at once (WAL mode,
//   busy timeout; a busy database is retried, never reported as an error). Every method is
//   thread-safe. Failures throw frodo::Error naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "event.hpp"

namespace alerts {

struct HostState {
  std::int64_t seq = 0;
  std::string status;
  std::int64_t token = 0;  // the highest token ever accepted for the host
};

// Microseconds of CLOCK_MONOTONIC: the clock of the admission intervals. On Linux it is one
// clock for every process of the machine, so intervals written by different servers compare.
std::int64_t monotonic_us() noexcept;

// What a row records besides the event: what the server did with it.
enum class RowResult { applied, duplicate };
const char* to_string(RowResult result) noexcept;

// The admission an event is processed under.
struct Processing {
  std::int64_t token = 0;  // the guard's fencing token (0 unguarded)
  std::string server;      // the address of the server processing it
  std::int64_t admitted_us = 0;  // monotonic_us() when the server admitted the event
};

struct StoreRow {
  std::int64_t id = 0;  // global write order
  std::string host;
  std::int64_t seq = 0;
  std::string status;
  RowResult result = RowResult::applied;
  std::int64_t token = 0;
  std::string server;
  std::int64_t admitted_us = 0;  // monotonic, when the server admitted the event
  std::int64_t done_us = 0;      // monotonic, when this row was written (within the admission)
  std::int64_t at_us = 0;        // wall clock at the write, microseconds since the Unix epoch
};

enum class ApplyResult { applied, fenced };
const char* to_string(ApplyResult result) noexcept;

struct StoreOptions {
  // Refuse rows whose token is older than the newest accepted for their host. false: accept
  // everything (what `frodo demo --no-fencing` runs the guard against).
  bool fencing = true;
};

// The format this version writes and reads (SQLite user_version).
inline constexpr int store_format = 2;

class Store {
 public:
  // Opens (creating if needed) the database at `path`. Throws frodo::Error
  // (invalid_argument) naming the path when it cannot be opened, is not an alert store, or
  // holds an alert store of another format.
  explicit Store(const std::filesystem::path& path, StoreOptions options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Applies the event: a row `applied`, and the host's state. `applied`, or `fenced`.
  ApplyResult apply(const Event& event, const Processing& processing);
  // The same, admitted now (tests, tools).
  ApplyResult apply(const Event& event, std::int64_t token, const std::string& server);
  // Records that the server found `event` already applied and changed nothing: a row
  // `duplicate`; the host's state keeps its seq and status, its token rises to `token`.
  // Fenced like apply().
  ApplyResult record_duplicate(const Event& event, const Processing& processing);

  // The host's latest applied state, or nullopt if nothing was applied for it.
  std::optional<HostState> host(std::string_view host) const;

  // What a server that starts holding `host` under `token` reads before its first event: the
  // host's state as host() gives it, and, with fencing, the host's token raised to `token` in
  // the same transaction. From then on a write with an older token is fenced even before the
  // new holder writes anything: a server that admitted an event, was paused past its lease
  // and writes late can no longer land its write between the new holder's read and its first
  // write, where the new holder, having read the older state, would apply the same event
  // again. `fenced` (nothing read or changed) if the host has seen a newer token already.
  struct Claim {
    ApplyResult result = ApplyResult::applied;
    std::optional<HostState> state;
  };
  Claim claim(std::string_view host, std::int64_t token);
  // Every row, in id (global write) order.
  std::vector<StoreRow> rows() const;

  bool fencing() const { return options_.fencing; }

  const std::filesystem::path& path() const { return path_; }

 private:
  struct Db;
  ApplyResult write(const Event& event, const Processing& processing, RowResult result);
  // The host's row as host() reports it (none for a row of seq 0: claimed, nothing applied).
  static std::optional<HostState> read_host(Db& d, std::string_view host);
  // Whether the host has seen a token newer than `token` (the fencing check, inside a transaction).
  static bool newer_token_seen(Db& d, std::string_view host, std::int64_t token);

  std::filesystem::path path_;
  StoreOptions options_;
  std::unique_ptr<Db> db_;
};

}  // namespace alerts
