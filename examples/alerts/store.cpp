#include "store.hpp"

#include <sqlite3.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <thread>

#include "frodo/error.hpp"

namespace alerts {
namespace {

using Clock = std::chrono::steady_clock;

// SQLite's own busy handler waits this long for a lock; past it, the whole transaction is
// retried from the start until retry_for has passed.
constexpr int busy_timeout_ms = 5000;
constexpr auto retry_for = std::chrono::seconds(30);

// Format 2 (store_format). Format 1 had a table `applied` without result, admitted_us and
// done_us, and no user_version.
constexpr const char* schema = R"sql(
  CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('applied', 'duplicate')),
    token INTEGER NOT NULL, server TEXT NOT NULL,
    admitted_us INTEGER NOT NULL, done_us INTEGER NOT NULL, at_us INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS hosts (
    host TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL, token INTEGER NOT NULL);
  PRAGMA user_version = 2;
)sql";
static_assert(store_format == 2, "the schema above is format 2");

// Another connection holds the lock: the transaction is retried, not reported.
struct Busy {};

bool is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::int64_t monotonic_us() noexcept {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000 + now.tv_nsec / 1000;
}

const char* to_string(RowResult result) noexcept {
  switch (result) {
    case RowResult::applied: return "applied";
    case RowResult::duplicate: return "duplicate";
  }
  return "?";
}

const char* to_string(ApplyResult result) noexcept {
  switch (result) {
    case ApplyResult::applied: return "applied";
    case ApplyResult::fenced: return "fenced";
  }
  return "?";
}

struct Store::Db {
  std::string path;  // for messages
  sqlite3* db = nullptr;
  std::mutex mutex;  // one connection, used by one thread at a time
  sqlite3_stmt* begin = nullptr;
  sqlite3_stmt* commit = nullptr;
  sqlite3_stmt* rollback = nullptr;
  sqlite3_stmt* select_host = nullptr;
  sqlite3_stmt* insert_applied = nullptr;
  sqlite3_stmt* upsert_host = nullptr;
  sqlite3_stmt* raise_token = nullptr;
  sqlite3_stmt* claim_host = nullptr;
  sqlite3_stmt* select_rows = nullptr;

  ~Db() {
    for (sqlite3_stmt* s :
         {begin, commit, rollback, select_host, insert_applied, upsert_host, raise_token, claim_host, select_rows}) {
      sqlite3_finalize(s);
    }
    sqlite3_close_v2(db);
  }

  [[noreturn]] void fail(int rc, const std::string& what, frodo::Errc code = frodo::Errc::unavailable) const {
    throw frodo::Error(code, path + ": " + what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }

  void check(int rc, const char* what) const {
    if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return;
    if (is_busy(rc)) throw Busy{};
    fail(rc, what);
  }

  sqlite3_stmt* prepare(const char* sql) {
    sqlite3_stmt* stmt = nullptr;
    check(sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr), "prepare");
    return stmt;
  }

  // One step of a statement that returns no row.
  void run(sqlite3_stmt* stmt, const char* what) {
    int rc = sqlite3_step(stmt);
    sqlite3_reset(stmt);
    check(rc, what);
  }

  void exec(const char* sql, const char* what) {
    char* message = nullptr;
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, &message);
    std::string text = message ? message : "";
    sqlite3_free(message);
    if (rc == SQLITE_OK) return;
    if (is_busy(rc)) throw Busy{};
    throw frodo::Error(rc == SQLITE_NOTADB ? frodo::Errc::invalid_argument : frodo::Errc::unavailable,
                       path + ": " + what + ": " + text);
  }

  // Runs `body` until it gets through without meeting a lock, rolling back between tries.
  template <class Body>
  auto with_retry(Body&& body) -> decltype(body()) {
    auto deadline = Clock::now() + retry_for;
    for (int attempt = 0;; ++attempt) {
      try {
        return body();
      } catch (const Busy&) {
        roll_back_open_transaction();
        if (Clock::now() > deadline) {
          throw frodo::Error(frodo::Errc::unavailable,
                             path + ": database still locked after " + std::to_string(retry_for.count()) + " s");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(std::min(1 << std::min(attempt, 6), 50)));
      } catch (...) {
        roll_back_open_transaction();
        throw;
      }
    }
  }

  // The first column of the first row of `sql` as an integer (0 when there is no row).
  std::int64_t query_int(const char* sql, const char* what) {
    sqlite3_stmt* stmt = nullptr;
    check(sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr), what);
    int rc = sqlite3_step(stmt);
    std::int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_finalize(stmt);
    check(rc, what);
    return value;
  }

  // Creates the schema in a new file, or checks that an existing one is an alert store of
  // this format. Runs inside a write transaction, so processes racing to create it agree.
  void create_or_check_schema() {
    std::int64_t version = query_int("PRAGMA user_version", "cannot read the store's format");
    auto has_table = [&](const char* name) {
      std::string sql = std::string("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '") + name + "'";
      return query_int(sql.c_str(), "cannot read the store's tables") > 0;
    };
    if (version == store_format) return exec(schema, "cannot create the schema");
    if (version != 0) {
      throw frodo::Error(frodo::Errc::invalid_argument,
                         path + ": an alert store of format " + std::to_string(version) + ", this program reads format " +
                             std::to_string(store_format) + ": use a new store file");
    }
    if (has_table("applied")) {
      throw frodo::Error(frodo::Errc::invalid_argument,
                         path + ": an alert store written by an older version of the example (format 1: table "
                                "'applied', without admission intervals), which the checker cannot judge: use a "
                                "new store file");
    }
    if (has_table("events") || has_table("hosts")) {
      throw frodo::Error(frodo::Errc::invalid_argument,
                         path + ": has tables 'events' or 'hosts' but no alert store format number: not an alert "
                                "store this program wrote");
    }
    exec(schema, "cannot create the schema");
  }

  void roll_back_open_transaction() {
    if (sqlite3_get_autocommit(db)) return;
    if (rollback) {
      sqlite3_step(rollback);
      sqlite3_reset(rollback);
    } else {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
};

// Resets a statement (and its bindings) however the scope is left.
class Reset {
 public:
  explicit Reset(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

namespace {

std::string column_text(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : "";
}

void bind_text(sqlite3_stmt* stmt, int index, std::string_view text) {
  sqlite3_bind_text(stmt, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace

Store::Store(const std::filesystem::path& path, StoreOptions options)
    : path_(path), options_(options), db_(std::make_unique<Db>()) {
  db_->path = path.string();
  int rc = sqlite3_open_v2(db_->path.c_str(), &db_->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) db_->fail(rc, "cannot open the store", frodo::Errc::invalid_argument);
  sqlite3_extended_result_codes(db_->db, 1);
  sqlite3_busy_timeout(db_->db, busy_timeout_ms);
  // Readers never block the writer and the writer never blocks readers; NORMAL is durable
  // across process crashes (what the scenario kills), not across power loss.
  db_->with_retry([&] { db_->exec("PRAGMA journal_mode=WAL", "cannot switch to WAL mode"); });
  db_->with_retry([&] { db_->exec("PRAGMA synchronous=NORMAL", "cannot set synchronous"); });
  db_->with_retry([&] {
    db_->exec("BEGIN IMMEDIATE", "cannot create the schema");
    db_->create_or_check_schema();
    db_->exec("COMMIT", "cannot create the schema");
  });
  db_->begin = db_->prepare("BEGIN IMMEDIATE");
  db_->commit = db_->prepare("COMMIT");
  db_->rollback = db_->prepare("ROLLBACK");
  db_->select_host = db_->prepare("SELECT seq, status, token FROM hosts WHERE host = ?1");
  db_->insert_applied = db_->prepare(
      "INSERT INTO events (host, seq, status, result, token, server, admitted_us, done_us, at_us) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  db_->upsert_host = db_->prepare(
      "INSERT INTO hosts (host, seq, status, token) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (host) DO UPDATE SET seq = excluded.seq, status = excluded.status, "
      "token = max(hosts.token, excluded.token)");
  db_->raise_token = db_->prepare("UPDATE hosts SET token = max(token, ?2) WHERE host = ?1");
  // A claimed host that nothing was applied to yet gets a row of seq 0 (host() reports none).
  db_->claim_host = db_->prepare(
      "INSERT INTO hosts (host, seq, status, token) VALUES (?1, 0, '', ?2) "
      "ON CONFLICT (host) DO UPDATE SET token = max(hosts.token, excluded.token)");
  db_->select_rows = db_->prepare(
      "SELECT id, host, seq, status, result, token, server, admitted_us, done_us, at_us FROM events ORDER BY id");
}

Store::~Store() = default;

ApplyResult Store::apply(const Event& event, std::int64_t token, const std::string& server) {
  return apply(event, Processing{token, server, monotonic_us()});
}

ApplyResult Store::apply(const Event& event, const Processing& processing) {
  return write(event, processing, RowResult::applied);
}

ApplyResult Store::record_duplicate(const Event& event, const Processing& processing) {
  return write(event, processing, RowResult::duplicate);
}

ApplyResult Store::write(const Event& event, const Processing& p, RowResult result) {
  std::lock_guard lock(db_->mutex);
  Db& d = *db_;
  return d.with_retry([&] {
    // IMMEDIATE takes the write lock before the token is read, so no other server can
    // accept a newer token between the check and the write; and done_us, read under the
    // lock, grows with the row ids.
    d.run(d.begin, "cannot begin a transaction");
    if (options_.fencing && newer_token_seen(d, event.host, p.token)) {
      d.run(d.rollback, "cannot roll back");
      return ApplyResult::fenced;
    }
    {
      Reset reset(d.insert_applied);
      bind_text(d.insert_applied, 1, event.host);
      sqlite3_bind_int64(d.insert_applied, 2, event.seq);
      bind_text(d.insert_applied, 3, event.status);
      bind_text(d.insert_applied, 4, to_string(result));
      sqlite3_bind_int64(d.insert_applied, 5, p.token);
      bind_text(d.insert_applied, 6, p.server);
      sqlite3_bind_int64(d.insert_applied, 7, p.admitted_us);
      sqlite3_bind_int64(d.insert_applied, 8, monotonic_us());
      sqlite3_bind_int64(d.insert_applied, 9, now_us());
      d.check(sqlite3_step(d.insert_applied), "cannot insert the event");
    }
    if (result == RowResult::applied) {
      Reset reset(d.upsert_host);
      bind_text(d.upsert_host, 1, event.host);
      sqlite3_bind_int64(d.upsert_host, 2, event.seq);
      bind_text(d.upsert_host, 3, event.status);
      sqlite3_bind_int64(d.upsert_host, 4, p.token);
      d.check(sqlite3_step(d.upsert_host), "cannot update the host");
    } else {
      // Nothing changes but the newest token the host has seen.
      Reset reset(d.raise_token);
      bind_text(d.raise_token, 1, event.host);
      sqlite3_bind_int64(d.raise_token, 2, p.token);
      d.check(sqlite3_step(d.raise_token), "cannot update the host's token");
    }
    d.run(d.commit, "cannot commit");
    return ApplyResult::applied;
  });
}

std::optional<HostState> Store::read_host(Db& d, std::string_view host) {
  Reset reset(d.select_host);
  bind_text(d.select_host, 1, host);
  int rc = sqlite3_step(d.select_host);
  d.check(rc, "cannot read the host");
  if (rc != SQLITE_ROW || sqlite3_column_int64(d.select_host, 0) == 0) return std::nullopt;
  return HostState{sqlite3_column_int64(d.select_host, 0), column_text(d.select_host, 1),
                   sqlite3_column_int64(d.select_host, 2)};
}

bool Store::newer_token_seen(Db& d, std::string_view host, std::int64_t token) {
  Reset reset(d.select_host);
  bind_text(d.select_host, 1, host);
  int rc = sqlite3_step(d.select_host);
  d.check(rc, "cannot read the host");
  return rc == SQLITE_ROW && sqlite3_column_int64(d.select_host, 2) > token;
}

std::optional<HostState> Store::host(std::string_view host) const {
  std::lock_guard lock(db_->mutex);
  Db& d = *db_;
  return d.with_retry([&]() -> std::optional<HostState> { return read_host(d, host); });
}

Store::Claim Store::claim(std::string_view host, std::int64_t token) {
  if (!options_.fencing) return {ApplyResult::applied, this->host(host)};
  std::lock_guard lock(db_->mutex);
  Db& d = *db_;
  return d.with_retry([&]() -> Claim {
    // IMMEDIATE, as write(): no other server's token can come in between the check and the raise.
    d.run(d.begin, "cannot begin a transaction");
    if (newer_token_seen(d, host, token)) {
      d.run(d.rollback, "cannot roll back");
      return {ApplyResult::fenced, std::nullopt};
    }
    std::optional<HostState> state = read_host(d, host);
    {
      Reset reset(d.claim_host);
      bind_text(d.claim_host, 1, host);
      sqlite3_bind_int64(d.claim_host, 2, token);
      d.check(sqlite3_step(d.claim_host), "cannot raise the host's token");
    }
    d.run(d.commit, "cannot commit");
    return {ApplyResult::applied, state};
  });
}

std::vector<StoreRow> Store::rows() const {
  std::lock_guard lock(db_->mutex);
  Db& d = *db_;
  return d.with_retry([&] {
    std::vector<StoreRow> rows;
    Reset reset(d.select_rows);
    sqlite3_stmt* q = d.select_rows;
    for (;;) {
      int rc = sqlite3_step(q);
      d.check(rc, "cannot read the events");
      if (rc != SQLITE_ROW) break;
      StoreRow row;
      row.id = sqlite3_column_int64(q, 0);
      row.host = column_text(q, 1);
      row.seq = sqlite3_column_int64(q, 2);
      row.status = column_text(q, 3);
      row.result = column_text(q, 4) == "duplicate" ? RowResult::duplicate : RowResult::applied;
      row.token = sqlite3_column_int64(q, 5);
      row.server = column_text(q, 6);
      row.admitted_us = sqlite3_column_int64(q, 7);
      row.done_us = sqlite3_column_int64(q, 8);
      row.at_us = sqlite3_column_int64(q, 9);
      rows.push_back(std::move(row));
    }
    return rows;
  });
}

}  // namespace alerts
