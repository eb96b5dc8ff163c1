#include "store.hpp"

#include <sqlite3.h>

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

constexpr const char* schema = R"sql(
  CREATE TABLE IF NOT EXISTS applied (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    host TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
    token INTEGER NOT NULL, server TEXT NOT NULL, at_us INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS hosts (
    host TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL, token INTEGER NOT NULL);
)sql";

// Another connection holds the lock: the transaction is retried, not reported.
struct Busy {};

bool is_busy(int rc) { return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED; }

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

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
  sqlite3_stmt* select_rows = nullptr;

  ~Db() {
    for (sqlite3_stmt* s : {begin, commit, rollback, select_host, insert_applied, upsert_host, select_rows}) {
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

Store::Store(const std::filesystem::path& path) : path_(path), db_(std::make_unique<Db>()) {
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
    db_->exec(schema, "cannot create the schema");
    db_->exec("COMMIT", "cannot create the schema");
  });
  db_->begin = db_->prepare("BEGIN IMMEDIATE");
  db_->commit = db_->prepare("COMMIT");
  db_->rollback = db_->prepare("ROLLBACK");
  db_->select_host = db_->prepare("SELECT seq, status, token FROM hosts WHERE host = ?1");
  db_->insert_applied = db_->prepare(
      "INSERT INTO applied (host, seq, status, token, server, at_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  db_->upsert_host = db_->prepare(
      "INSERT INTO hosts (host, seq, status, token) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (host) DO UPDATE SET seq = excluded.seq, status = excluded.status, "
      "token = max(hosts.token, excluded.token)");
  db_->select_rows = db_->prepare(
      "SELECT id, host, seq, status, token, server, at_us FROM applied ORDER BY id");
}

Store::~Store() = default;

ApplyResult Store::apply(const Event& event, std::int64_t token, const std::string& server) {
  std::lock_guard lock(db_->mutex);
  Db& d = *db_;
  return d.with_retry([&] {
    // IMMEDIATE takes the write lock before the token is read, so no other server can
    // accept a newer token between the check and the write.
    d.run(d.begin, "cannot begin a transaction");
    {
      Reset reset(d.select_host);
      bind_text(d.select_host, 1, event.host);
      int rc = sqlite3_step(d.select_host);
      d.check(rc, "cannot read the host");
      if (rc == SQLITE_ROW && sqlite3_column_int64(d.select_host, 2) > token) {
        sqlite3_reset(d.select_host);
        d.run(d.rollback, "cannot roll back");
        return ApplyResult::fenced;
      }
    }
    {
      Reset reset(d.insert_applied);
      bind_text(d.insert_applied, 1, event.host);
      sqlite3_bind_int64(d.insert_applied, 2, event.seq);
      bind_text(d.insert_applied, 3, event.status);
      sqlite3_bind_int64(d.insert_applied, 4, token);
      bind_text(d.insert_applied, 5, server);
      sqlite3_bind_int64(d.insert_applied, 6, now_us());
      d.check(sqlite3_step(d.insert_applied), "cannot insert the event");
    }
    {
      Reset reset(d.upsert_host);
      bind_text(d.upsert_host, 1, event.host);
      sqlite3_bind_int64(d.upsert_host, 2, event.seq);
      bind_text(d.upsert_host, 3, event.status);
      sqlite3_bind_int64(d.upsert_host, 4, token);
      d.check(sqlite3_step(d.upsert_host), "cannot update the host");
    }
    d.run(d.commit, "cannot commit");
    return ApplyResult::applied;
  });
}

std::optional<HostState> Store::host(std::string_view host) const {
  std::lock_guard lock(db_->mutex);
  Db& d = *db_;
  return d.with_retry([&]() -> std::optional<HostState> {
    Reset reset(d.select_host);
    bind_text(d.select_host, 1, host);
    int rc = sqlite3_step(d.select_host);
    d.check(rc, "cannot read the host");
    if (rc != SQLITE_ROW) return std::nullopt;
    return HostState{sqlite3_column_int64(d.select_host, 0), column_text(d.select_host, 1),
                     sqlite3_column_int64(d.select_host, 2)};
  });
}

std::vector<AppliedRow> Store::applied_rows() const {
  std::lock_guard lock(db_->mutex);
  Db& d = *db_;
  return d.with_retry([&] {
    std::vector<AppliedRow> rows;
    Reset reset(d.select_rows);
    for (;;) {
      int rc = sqlite3_step(d.select_rows);
      d.check(rc, "cannot read the applied events");
      if (rc != SQLITE_ROW) break;
      rows.push_back({sqlite3_column_int64(d.select_rows, 0), column_text(d.select_rows, 1),
                      sqlite3_column_int64(d.select_rows, 2), column_text(d.select_rows, 3),
                      sqlite3_column_int64(d.select_rows, 4), column_text(d.select_rows, 5),
                      sqlite3_column_int64(d.select_rows, 6)});
    }
    return rows;
  });
}

}  // namespace alerts
