// Store: the alert database, one SQLite file shared by every alert server on one machine.
//
// It stands for the system of record behind an entity-affinity tier: it orders all writes
// globally (the `applied` table's row ids), so a checker can replay exactly what happened.
//
//   applied(id INTEGER PRIMARY KEY AUTOINCREMENT, host, seq, status, token, server, at_us)
//   hosts(host PRIMARY KEY, seq, status, token)
//
// Contract:
// - apply() is one BEGIN IMMEDIATE transaction. It refuses (`fenced`, nothing written) a
//   write whose token is lower than the newest token accepted for that host: a server that
//   lost the host during a pause cannot overwrite its new owner's work. Token 0 (unguarded
//   servers) is never fenced as long as nobody wrote with a higher token.
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

struct AppliedRow {
  std::int64_t id = 0;  // global write order
  std::string host;
  std::int64_t seq = 0;
  std::string status;
  std::int64_t token = 0;
  std::string server;
  std::int64_t at_us = 0;  // wall clock, microseconds since the Unix epoch
};

enum class ApplyResult { applied, fenced };
const char* to_string(ApplyResult result) noexcept;

class Store {
 public:
  // Opens (creating if needed) the database at `path`. Throws frodo::Error
  // (invalid_argument) naming the path when it cannot be opened or is not an alert store.
  explicit Store(const std::filesystem::path& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  ApplyResult apply(const Event& event, std::int64_t token, const std::string& server);

  // The host's latest applied state, or nullopt if nothing was applied for it.
  std::optional<HostState> host(std::string_view host) const;
  // Every applied row, in id (global write) order.
  std::vector<AppliedRow> applied_rows() const;

  const std::filesystem::path& path() const { return path_; }

 private:
  struct Db;
  std::filesystem::path path_;
  std::unique_ptr<Db> db_;
};

}  // namespace alerts
