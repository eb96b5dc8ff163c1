// The alerts example (examples/alerts): event parsing, the store and its fencing, the
// checker, and servers and a client over the in-memory registry on 127.0.0.1.
#include <gtest/gtest.h>

#include "process/temp_dir.hpp"
#include "process/wait_until.hpp"
#include "frodo/metrics.hpp"
#include <httplib.h>
#include <sqlite3.h>  // to make stores of other formats (frodo_alerts links SQLite)
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "acked.hpp"
#include "alert_server.hpp"
#include "checker.hpp"
#include "event.hpp"
#include "event_client.hpp"
#include "frodo/error.hpp"
#include "store.hpp"

namespace alerts {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;
namespace fs = std::filesystem;

// A fresh directory under the system temp dir, removed with everything in it.
struct TempDir : frodo::process::TempDir {
  TempDir() : frodo::process::TempDir("frodo-alerts-test") {}
};

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds limit = 10s) {
  return frodo::process::wait_until(condition, limit, 1ms);
}

std::string parse_error(std::string_view body) {
  ParsedEvent parsed = parse_event(body);
  if (auto* problem = std::get_if<std::string>(&parsed)) return *problem;
  ADD_FAILURE() << "accepted " << body;
  return "";
}

// ---- parse_event ----

TEST(AlertsEvent, ParsesAGoodEventAndRoundTrips) {
  ParsedEvent parsed = parse_event(R"({"host":"web-17","seq":3,"status":"DOWN"})");
  ASSERT_TRUE(std::holds_alternative<Event>(parsed)) << std::get<std::string>(parsed);
  Event e = std::get<Event>(parsed);
  EXPECT_EQ(e, (Event{"web-17", 3, "DOWN"}));
  EXPECT_EQ(std::get<Event>(parse_event(to_json(e))), e);
  // Unknown fields are ignored; every allowed host character is accepted.
  EXPECT_TRUE(std::holds_alternative<Event>(
      parse_event(R"({"host":"A.z_9-x","seq":9007199254740993,"status":"UP","note":1})")));
  EXPECT_TRUE(std::holds_alternative<Event>(parse_event(to_json({std::string(253, 'h'), 1, "UP"}))));
}

TEST(AlertsEvent, BadHostsAreNamed) {
  EXPECT_EQ(parse_error(R"({"host":"bad host!","seq":1,"status":"UP"})"),
            "bad host 'bad host!': expected 1-253 characters of A-Z a-z 0-9 . _ -");
  EXPECT_EQ(parse_error(R"({"host":"","seq":1,"status":"UP"})"),
            "bad host '': expected 1-253 characters of A-Z a-z 0-9 . _ -");
  std::string long_host = parse_error(to_json({std::string(300, 'h'), 1, "UP"}));
  EXPECT_NE(long_host.find("bad host 'hhhh"), std::string::npos) << long_host;
  EXPECT_NE(long_host.find("(300 characters)"), std::string::npos) << long_host;
  EXPECT_EQ(parse_error(R"({"seq":1,"status":"UP"})"), "missing host");
  EXPECT_EQ(parse_error(R"({"host":7,"seq":1,"status":"UP"})"), "host must be a string, got '7'");
}

TEST(AlertsEvent, BadSeqsAreNamed) {
  EXPECT_EQ(parse_error(R"({"host":"h","status":"UP"})"), "missing seq");
  EXPECT_EQ(parse_error(R"({"host":"h","seq":0,"status":"UP"})"), "seq must be an integer >= 1, got '0'");
  EXPECT_EQ(parse_error(R"({"host":"h","seq":-1,"status":"UP"})"), "seq must be an integer >= 1, got '-1'");
  EXPECT_EQ(parse_error(R"({"host":"h","seq":"x","status":"UP"})"), "seq must be an integer >= 1, got '\"x\"'");
  EXPECT_EQ(parse_error(R"({"host":"h","seq":1.5,"status":"UP"})"), "seq must be an integer >= 1, got '1.5'");
  EXPECT_EQ(parse_error(R"({"host":"h","seq":18446744073709551615,"status":"UP"})"),
            "seq must be an integer >= 1, got '18446744073709551615'");
}

TEST(AlertsEvent, BadStatusesAndBodiesAreNamed) {
  EXPECT_EQ(parse_error(R"({"host":"h","seq":1})"), "missing status");
  EXPECT_EQ(parse_error(R"({"host":"h","seq":1,"status":"down"})"),
            "status must be \"UP\" or \"DOWN\", got '\"down\"'");
  EXPECT_EQ(parse_error("host=h"), "body is not JSON: 'host=h'");
  EXPECT_EQ(parse_error(""), "body is not JSON: ''");
  EXPECT_EQ(parse_error("[1,2]"), "event must be a JSON object, got '[1,2]'");
  std::string big = R"({"host":"h","seq":1,"status":"UP","pad":")" + std::string(max_event_bytes, 'x') + "\"}";
  EXPECT_EQ(parse_error(big), "event body is " + std::to_string(big.size()) + " bytes, more than the 4096 allowed");
}

// ---- Store ----

TEST(AlertsStore, AppliesAndReadsBack) {
  TempDir dir;
  Store store(dir / "alerts.db");
  EXPECT_EQ(store.host("web-1"), std::nullopt);
  EXPECT_EQ(store.apply({"web-1", 1, "DOWN"}, 4, "a:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-2", 1, "DOWN"}, 4, "a:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 4, "b:1"), ApplyResult::applied);
  std::optional<HostState> h = store.host("web-1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->seq, 2);
  EXPECT_EQ(h->status, "UP");
  EXPECT_EQ(h->token, 4);
  std::vector<StoreRow> rows = store.rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_LT(rows[0].id, rows[1].id);
  EXPECT_LT(rows[1].id, rows[2].id);
  EXPECT_EQ(rows[0].host, "web-1");
  EXPECT_EQ(rows[1].host, "web-2");
  EXPECT_EQ(rows[2].seq, 2);
  EXPECT_EQ(rows[2].status, "UP");
  EXPECT_EQ(rows[2].server, "b:1");
  EXPECT_EQ(rows[2].token, 4);
  EXPECT_GT(rows[2].at_us, 0);
}

TEST(AlertsStore, RefusesATokenOlderThanTheNewestAccepted) {
  TempDir dir;
  Store store(dir / "alerts.db");
  EXPECT_EQ(store.apply({"web-1", 1, "DOWN"}, 5, "a:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 3, "old:1"), ApplyResult::fenced);
  EXPECT_EQ(store.host("web-1")->seq, 1);
  EXPECT_EQ(store.rows().size(), 1u);
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 5, "a:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-1", 3, "DOWN"}, 7, "b:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-1", 4, "UP"}, 5, "a:1"), ApplyResult::fenced);
  EXPECT_EQ(store.host("web-1")->token, 7);
  // Fencing is per host: another host's tokens are its own.
  EXPECT_EQ(store.apply({"web-2", 1, "DOWN"}, 1, "c:1"), ApplyResult::applied);
  // The store does not order by seq: an old event is applied, for the checker to see.
  EXPECT_EQ(store.apply({"web-1", 1, "DOWN"}, 7, "b:1"), ApplyResult::applied);
  EXPECT_EQ(store.host("web-1")->seq, 1);
}

TEST(AlertsStore, TokenZeroIsUnfencedUntilSomeoneWritesWithAToken) {
  TempDir dir;
  Store store(dir / "alerts.db");
  EXPECT_EQ(store.apply({"web-1", 1, "DOWN"}, 0, "a:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 0, "b:1"), ApplyResult::applied);
  EXPECT_EQ(store.host("web-1")->token, 0);
  EXPECT_EQ(store.apply({"web-1", 3, "DOWN"}, 2, "c:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-1", 4, "UP"}, 0, "a:1"), ApplyResult::fenced);
}

TEST(AlertsStore, RowsCarryTheAdmissionIntervalOnTheSharedMonotonicClock) {
  TempDir dir;
  Store store(dir / "alerts.db");
  std::int64_t before = monotonic_us();
  EXPECT_EQ(store.apply({"web-1", 1, "DOWN"}, Processing{3, "a:1", before}), ApplyResult::applied);
  std::int64_t after = monotonic_us();
  std::vector<StoreRow> rows = store.rows();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].result, RowResult::applied);
  EXPECT_EQ(rows[0].admitted_us, before);
  EXPECT_GE(rows[0].done_us, before);
  EXPECT_LE(rows[0].done_us, after);
  EXPECT_GT(rows[0].at_us, 0);  // the wall clock, for people
}

TEST(AlertsStore, ADuplicateAnswerIsARowThatChangesNothingButTheToken) {
  TempDir dir;
  Store store(dir / "alerts.db");
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 4, "a:1"), ApplyResult::applied);
  EXPECT_EQ(store.record_duplicate({"web-1", 1, "DOWN"}, {6, "b:1", monotonic_us()}), ApplyResult::applied);
  std::optional<HostState> h = store.host("web-1");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->seq, 2);
  EXPECT_EQ(h->status, "UP");
  EXPECT_EQ(h->token, 6);  // the store has heard from token 6: older ones are refused now
  EXPECT_EQ(store.apply({"web-1", 3, "DOWN"}, 4, "a:1"), ApplyResult::fenced);
  EXPECT_EQ(store.record_duplicate({"web-1", 2, "UP"}, {5, "a:1", monotonic_us()}), ApplyResult::fenced);
  std::vector<StoreRow> rows = store.rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].result, RowResult::duplicate);
  EXPECT_EQ(rows[1].server, "b:1");
  EXPECT_EQ(rows[1].seq, 1);
}

// A new holder's first read raises the host's token: the previous holder, paused after it
// admitted an event, is fenced when it writes late, even though the new holder has not written
// yet. Without the claim that late write would land, and the new holder, which read the state
// from before it, would apply the same event again (the duplicate the demo's checker counts).
TEST(AlertsStore, AClaimFencesTheHoldersBeforeItBeforeItsFirstWrite) {
  TempDir dir;
  Store store(dir / "alerts.db");
  EXPECT_EQ(store.apply({"web-1", 1, "DOWN"}, 3, "a:1"), ApplyResult::applied);
  Store::Claim claim = store.claim("web-1", 4);
  EXPECT_EQ(claim.result, ApplyResult::applied);
  ASSERT_TRUE(claim.state);
  EXPECT_EQ(claim.state->seq, 1);
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 3, "a:1"), ApplyResult::fenced);  // the late write
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 4, "b:1"), ApplyResult::applied);
  EXPECT_EQ(store.rows().size(), 2u);
  // A claim under an older token than the host has seen is itself fenced and changes nothing.
  EXPECT_EQ(store.claim("web-1", 3).result, ApplyResult::fenced);
  // A host nothing was applied to: no state, but its token is raised all the same.
  claim = store.claim("web-2", 9);
  EXPECT_EQ(claim.result, ApplyResult::applied);
  EXPECT_FALSE(claim.state);
  EXPECT_FALSE(store.host("web-2"));
  EXPECT_EQ(store.apply({"web-2", 1, "DOWN"}, 8, "a:1"), ApplyResult::fenced);
  EXPECT_EQ(store.apply({"web-2", 1, "DOWN"}, 9, "b:1"), ApplyResult::applied);
  EXPECT_EQ(store.host("web-2")->seq, 1);
  // Without fencing a claim only reads.
  Store open(dir / "open.db", {.fencing = false});
  EXPECT_EQ(open.apply({"web-1", 1, "DOWN"}, 3, "a:1"), ApplyResult::applied);
  EXPECT_EQ(open.claim("web-1", 4).state->seq, 1);
  EXPECT_EQ(open.apply({"web-1", 2, "UP"}, 3, "a:1"), ApplyResult::applied);
}

TEST(AlertsStore, WithoutFencingEveryTokenIsAcceptedAndRecorded) {
  TempDir dir;
  Store store(dir / "alerts.db", {.fencing = false});
  EXPECT_FALSE(store.fencing());
  EXPECT_EQ(store.apply({"web-1", 1, "DOWN"}, 7, "b:1"), ApplyResult::applied);
  EXPECT_EQ(store.apply({"web-1", 2, "UP"}, 3, "old:1"), ApplyResult::applied);
  EXPECT_EQ(store.record_duplicate({"web-1", 1, "DOWN"}, {2, "old:1", monotonic_us()}), ApplyResult::applied);
  EXPECT_EQ(store.host("web-1")->seq, 2);
  EXPECT_EQ(store.host("web-1")->token, 7);  // the newest token seen is still known
  std::vector<StoreRow> rows = store.rows();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].token, 3);
  EXPECT_EQ(rows[2].token, 2);
  // The same file opened with fencing refuses what the other connection accepted.
  Store fenced(dir / "alerts.db");
  EXPECT_EQ(fenced.apply({"web-1", 3, "DOWN"}, 3, "old:1"), ApplyResult::fenced);
}

// A SQLite file made the way format 1 of this example made it (table `applied`, no format
// number), or with another format number.
void make_database(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  std::string text = message ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << text;
}

std::string open_error(const fs::path& path) {
  try {
    Store store(path);
  } catch (const frodo::Error& e) {
    EXPECT_EQ(e.code(), frodo::Errc::invalid_argument);
    return e.what();
  }
  ADD_FAILURE() << "opened " << path;
  return "";
}

TEST(AlertsStore, AStoreOfAnotherFormatIsRefusedNamingTheFile) {
  TempDir dir;
  fs::path old = dir / "old.db";
  make_database(old,
                "CREATE TABLE applied (id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL, seq INTEGER NOT "
                "NULL, status TEXT NOT NULL, token INTEGER NOT NULL, server TEXT NOT NULL, at_us INTEGER NOT NULL);"
                "CREATE TABLE hosts (host TEXT PRIMARY KEY, seq INTEGER NOT NULL, status TEXT NOT NULL, token "
                "INTEGER NOT NULL);"
                "INSERT INTO applied (host, seq, status, token, server, at_us) VALUES ('web-1', 1, 'DOWN', 1, 'a:1', 5);");
  std::string error = open_error(old);
  EXPECT_NE(error.find(old.string()), std::string::npos) << error;
  EXPECT_NE(error.find("older version"), std::string::npos) << error;
  EXPECT_NE(error.find("use a new store file"), std::string::npos) << error;

  fs::path future = dir / "future.db";
  make_database(future, "CREATE TABLE t (x); PRAGMA user_version = 9;");
  error = open_error(future);
  EXPECT_NE(error.find(future.string() + ": an alert store of format 9, this program reads format 2"),
            std::string::npos)
      << error;

  fs::path foreign = dir / "foreign.db";
  make_database(foreign, "CREATE TABLE hosts (name TEXT);");
  error = open_error(foreign);
  EXPECT_NE(error.find(foreign.string()), std::string::npos) << error;
  EXPECT_NE(error.find("not an alert store"), std::string::npos) << error;

  // A database with nothing of ours in it becomes a store; reopening it is fine.
  fs::path other = dir / "other.db";
  make_database(other, "CREATE TABLE notes (text TEXT);");
  EXPECT_NO_THROW(Store{other});
  EXPECT_NO_THROW(Store{other});
}

TEST(AlertsStore, TwoStoresOnOneFileSeeEachOthersWritesUnderContention) {
  TempDir dir;
  Store a(dir / "alerts.db"), b(dir / "alerts.db");
  EXPECT_EQ(a.apply({"web-1", 1, "DOWN"}, 1, "a:1"), ApplyResult::applied);
  ASSERT_TRUE(b.host("web-1"));
  EXPECT_EQ(b.host("web-1")->status, "DOWN");
  EXPECT_EQ(b.apply({"web-1", 2, "UP"}, 2, "b:1"), ApplyResult::applied);
  EXPECT_EQ(a.apply({"web-1", 3, "DOWN"}, 1, "a:1"), ApplyResult::fenced);  // b's token 2 is newer
  EXPECT_EQ(a.host("web-1")->seq, 2);

  // Two connections writing at once: every write lands once, in one global order.
  constexpr int per_thread = 150;
  auto writer = [](Store& store, const std::string& host) {
    for (int seq = 1; seq <= per_thread; ++seq) store.apply({host, seq, seq % 2 ? "DOWN" : "UP"}, 0, host);
  };
  std::thread ta(writer, std::ref(a), "x"), tb(writer, std::ref(b), "y");
  ta.join();
  tb.join();
  std::vector<StoreRow> rows = b.rows();
  ASSERT_EQ(rows.size(), 2u + 2 * per_thread);
  std::map<std::string, std::int64_t> last;
  for (std::size_t i = 1; i < rows.size(); ++i) EXPECT_LT(rows[i - 1].id, rows[i].id);
  for (const StoreRow& row : rows) {
    EXPECT_EQ(row.seq, last[row.host] + 1) << row.host;
    last[row.host] = row.seq;
  }
}

TEST(AlertsStore, AFileThatIsNotADatabaseIsNamed) {
  TempDir dir;
  fs::path path = dir / "not.db";
  {
    std::ofstream out(path);
    out << std::string(4096, 'x');
  }
  try {
    Store store(path);
    FAIL() << "opened " << path;
  } catch (const frodo::Error& e) {
    EXPECT_EQ(e.code(), frodo::Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(Store(dir / "missing-dir" / "a.db"), frodo::Error);
}

// ---- checker ----

// An applied row of server a:1 under token 1, admitted and written at `id` ms.
StoreRow row(std::int64_t id, const std::string& host, std::int64_t seq) {
  StoreRow r;
  r.id = id;
  r.host = host;
  r.seq = seq;
  r.status = seq % 2 ? "DOWN" : "UP";
  r.token = 1;
  r.server = "a:1";
  r.admitted_us = id * 1000;
  r.done_us = id * 1000 + 500;
  return r;
}

Acked acked(std::int64_t seq) { return {seq, seq % 2 ? "DOWN" : "UP", 0, {}}; }

TEST(AlertsChecker, ACleanRunIsOk) {
  std::vector<StoreRow> rows = {row(1, "a", 1), row(2, "b", 1), row(3, "a", 2), row(4, "b", 2), row(5, "a", 3)};
  CheckReport r = check(rows, {{"a", acked(3)}, {"b", acked(2)}});
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.rows, 5);
  EXPECT_EQ(r.hosts, 2);
  EXPECT_EQ(r.acknowledged, 5);
  EXPECT_EQ(r.violations + r.duplicates + r.lost + r.final_mismatches, 0);
  EXPECT_TRUE(r.worst.empty());
  std::string table = format_table(r);
  EXPECT_NE(table.find("order violations                  0"), std::string::npos) << table;
  EXPECT_NE(table.find("token decreases                   0"), std::string::npos) << table;
  EXPECT_NE(table.find("overlapping admissions            0"), std::string::npos) << table;
  EXPECT_EQ(table.find("worst hosts"), std::string::npos) << table;
}

TEST(AlertsChecker, CountsAnEventAppliedAfterALaterOne) {
  // Rows arrive in id order whatever order they are passed in.
  std::vector<StoreRow> rows = {row(3, "a", 2), row(1, "a", 1), row(2, "a", 3)};
  CheckReport r = check(rows, {{"a", acked(3)}});
  EXPECT_EQ(r.violations, 1);
  EXPECT_EQ(r.duplicates, 0);
  EXPECT_EQ(r.lost, 0);
  EXPECT_EQ(r.final_mismatches, 1);  // the last row written is seq 2, not the acknowledged 3
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.worst.size(), 1u);
  EXPECT_EQ(r.worst[0].host, "a");
  EXPECT_EQ(r.worst[0].last_seq, 2);
  std::string table = format_table(r);
  EXPECT_NE(table.find("worst hosts"), std::string::npos) << table;
  EXPECT_NE(table.find("3 DOWN"), std::string::npos) << table;
}

TEST(AlertsChecker, CountsDuplicates) {
  CheckReport r = check({row(1, "a", 1), row(2, "a", 2), row(3, "a", 2)}, {{"a", acked(2)}});
  EXPECT_EQ(r.duplicates, 1);
  EXPECT_EQ(r.violations, 0);
  EXPECT_EQ(r.final_mismatches, 0);
  EXPECT_TRUE(r.ok());  // the same final state: reported, tolerated
}

TEST(AlertsChecker, CountsLostEvents) {
  CheckReport r = check({row(1, "a", 1), row(2, "a", 2), row(3, "a", 4), row(4, "a", 5)}, {{"a", acked(5)}});
  EXPECT_EQ(r.lost, 1);
  EXPECT_EQ(r.violations, 0);
  EXPECT_FALSE(r.ok());
  // An acknowledged host with no row at all lost everything.
  CheckReport none = check({}, {{"b", acked(2)}});
  EXPECT_EQ(none.lost, 2);
  EXPECT_EQ(none.final_mismatches, 1);
}

TEST(AlertsChecker, CountsAWrongFinalStatus) {
  std::vector<StoreRow> rows = {row(1, "a", 1), row(2, "a", 2)};
  rows[1].status = "DOWN";  // acknowledged as UP
  CheckReport r = check(rows, {{"a", acked(2)}});
  EXPECT_EQ(r.final_mismatches, 1);
  EXPECT_EQ(r.violations + r.lost + r.duplicates, 0);
  EXPECT_FALSE(r.ok());
  // A row never acknowledged (nor in flight) is a wrong final state too.
  EXPECT_EQ(check({row(1, "a", 1), row(2, "a", 2)}, {{"a", acked(1)}}).final_mismatches, 1);
}

TEST(AlertsChecker, AnEventGivenUpInFlightMayOrMayNotBeApplied) {
  Acked a = acked(2);
  a.in_flight_seq = 3;
  a.in_flight_status = "DOWN";
  EXPECT_TRUE(check({row(1, "a", 1), row(2, "a", 2)}, {{"a", a}}).ok());
  CheckReport r = check({row(1, "a", 1), row(2, "a", 2), row(3, "a", 3)}, {{"a", a}});
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.in_flight, 1);
}

// ---- store -> checker: one planted fault, exactly one count ----

// Writes `events` through a store without fencing (so that nothing is refused) and checks
// what it holds.
struct Planted {
  TempDir dir;
  Store store{dir / "alerts.db", {.fencing = false}};
  CheckReport check_all(const std::map<std::string, Acked>& acked, const std::vector<Pause>& pauses = {}) {
    return check(store.rows(), acked, pauses);
  }
};

TEST(AlertsStoreToChecker, OneOutOfOrderRowIsOneViolation) {
  Planted p;
  std::int64_t t = monotonic_us();
  for (std::int64_t seq : {1, 2, 4, 3, 5}) {
    ASSERT_EQ(p.store.apply({"web-1", seq, seq % 2 ? "DOWN" : "UP"}, Processing{1, "a:1", t}), ApplyResult::applied);
  }
  CheckReport r = p.check_all({{"web-1", acked(5)}});
  EXPECT_EQ(r.violations, 1) << format_table(r);
  EXPECT_EQ(r.token_violations + r.overlaps + r.lost + r.duplicates + r.final_mismatches, 0) << format_table(r);
  EXPECT_FALSE(r.ok());
}

TEST(AlertsStoreToChecker, OneDecreasingTokenIsOneTokenViolation) {
  Planted p;
  std::int64_t t = monotonic_us();
  ASSERT_EQ(p.store.apply({"web-1", 1, "DOWN"}, Processing{5, "a:1", t}), ApplyResult::applied);
  ASSERT_EQ(p.store.apply({"web-1", 2, "UP"}, Processing{3, "a:1", t}), ApplyResult::applied);  // older owner
  ASSERT_EQ(p.store.apply({"web-1", 3, "DOWN"}, Processing{5, "a:1", t}), ApplyResult::applied);
  ASSERT_EQ(p.store.apply({"web-2", 1, "DOWN"}, Processing{1, "a:1", t}), ApplyResult::applied);  // its own tokens
  CheckReport r = p.check_all({{"web-1", acked(3)}, {"web-2", acked(1)}});
  EXPECT_EQ(r.token_violations, 1) << format_table(r);
  EXPECT_EQ(r.violations + r.overlaps + r.lost + r.duplicates + r.final_mismatches, 0) << format_table(r);
  EXPECT_FALSE(r.ok());
  ASSERT_EQ(r.worst.size(), 1u);
  EXPECT_EQ(r.worst[0].host, "web-1");
}

TEST(AlertsStoreToChecker, OneOverlappingPairOfAdmissionsIsOneOverlap) {
  Planted p;
  // a:1 admits web-1 and writes seq 1; b:1 had admitted web-1 before that write: the two
  // admissions overlap. After that each admission begins after the previous row was written.
  std::int64_t a_admitted = monotonic_us();
  ASSERT_EQ(p.store.apply({"web-1", 1, "DOWN"}, Processing{1, "a:1", a_admitted}), ApplyResult::applied);
  ASSERT_EQ(p.store.apply({"web-1", 2, "UP"}, Processing{2, "b:1", a_admitted}), ApplyResult::applied);
  ASSERT_EQ(p.store.apply({"web-1", 3, "DOWN"}, Processing{2, "b:1", monotonic_us()}), ApplyResult::applied);
  ASSERT_EQ(p.store.apply({"web-1", 4, "UP"}, Processing{3, "a:1", monotonic_us()}), ApplyResult::applied);
  // The same server holding a host twice at once is its own business (one process, one lock).
  std::int64_t c_admitted = monotonic_us();
  ASSERT_EQ(p.store.apply({"web-2", 1, "DOWN"}, Processing{1, "c:1", c_admitted}), ApplyResult::applied);
  ASSERT_EQ(p.store.apply({"web-2", 2, "UP"}, Processing{1, "c:1", c_admitted}), ApplyResult::applied);
  CheckReport r = p.check_all({{"web-1", acked(4)}, {"web-2", acked(2)}});
  EXPECT_EQ(r.overlaps, 1) << format_table(r);
  EXPECT_EQ(r.violations + r.token_violations + r.lost + r.duplicates + r.final_mismatches, 0) << format_table(r);
  EXPECT_FALSE(r.ok());
}

TEST(AlertsStoreToChecker, AnAdmissionEndingInADuplicateAnswerStillOverlaps) {
  Planted p;
  std::int64_t b_admitted = monotonic_us();
  ASSERT_EQ(p.store.apply({"web-1", 1, "DOWN"}, Processing{1, "a:1", monotonic_us()}), ApplyResult::applied);
  // b:1 had admitted web-1 before a:1 wrote, then found seq 1 applied and changed nothing.
  ASSERT_EQ(p.store.record_duplicate({"web-1", 1, "DOWN"}, Processing{2, "b:1", b_admitted}), ApplyResult::applied);
  CheckReport r = p.check_all({{"web-1", acked(1)}});
  EXPECT_EQ(r.overlaps, 1) << format_table(r);
  EXPECT_EQ(r.duplicate_answers, 1);
  EXPECT_EQ(r.duplicates, 0);  // nothing was applied twice
  EXPECT_EQ(r.violations + r.token_violations + r.lost + r.final_mismatches, 0) << format_table(r);
}

// ---- the checker and pauses past the lease ----

StoreRow at(std::int64_t id, const std::string& server, std::int64_t seq, std::int64_t token, std::int64_t admitted_us,
            std::int64_t done_us) {
  StoreRow r = row(id, "h", seq);
  r.server = server;
  r.token = token;
  r.admitted_us = admitted_us;
  r.done_us = done_us;
  return r;
}

TEST(AlertsChecker, OverlapsAmongThreeServersAreCountedOncePerLateComer) {
  // a [0,100], b [50,60] (overlaps a), c [70,200] (overlaps a), a [150,160] (overlaps c).
  std::vector<StoreRow> rows = {at(1, "a", 1, 1, 0, 100), at(2, "b", 2, 1, 50, 60), at(3, "c", 3, 1, 70, 200),
                                at(4, "a", 4, 1, 150, 160), at(5, "b", 5, 1, 300, 310)};
  CheckReport r = check(rows, {{"h", acked(5)}});
  EXPECT_EQ(r.overlaps, 3) << format_table(r);
  EXPECT_EQ(r.worst.at(0).overlaps, 3);
}

TEST(AlertsChecker, WritesOfAServerPausedPastItsLeaseAreCountedApart) {
  // a admitted seq 3 at 100, froze from 150 to 1000 (its lease expired), wrote at 1010; b took
  // over at 400 and applied 3, 4 and 5 meanwhile (token 2).
  std::vector<StoreRow> rows = {at(1, "a", 1, 1, 0, 10),       at(2, "a", 2, 1, 20, 30),
                                at(3, "b", 3, 2, 400, 410),    at(4, "b", 4, 2, 420, 430),
                                at(5, "b", 5, 2, 1002, 1005),  at(6, "a", 3, 1, 100, 1010),
                                at(7, "b", 6, 2, 1020, 1030)};
  std::vector<Pause> pauses = {{"a", 150, 1000}};
  EXPECT_TRUE(is_late(rows[5], pauses));
  EXPECT_FALSE(is_late(rows[1], pauses));
  CheckReport r = check(rows, {{"h", acked(6)}}, pauses);
  EXPECT_EQ(r.late.rows, 1);
  EXPECT_EQ(r.violations, 1);  // seq 3 after 5
  EXPECT_EQ(r.late.violations, 1);
  EXPECT_EQ(r.token_violations, 1);  // token 1 after 2
  EXPECT_EQ(r.late.token_violations, 1);
  EXPECT_EQ(r.overlaps, 3);  // b's 3, 4 and 5 began while a held seq 3
  EXPECT_EQ(r.late.overlaps, 3);
  EXPECT_EQ(r.duplicates, 1);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.ok_but_late()) << format_table(r);
  std::string table = format_table(r);
  EXPECT_NE(table.find("late"), std::string::npos) << table;

  // Without the pause named, the same rows are plain violations.
  EXPECT_FALSE(check(rows, {{"h", acked(6)}}).ok_but_late());

  // An overlap that began before the pause is not the pause's doing.
  // c admitted h at 120, while a had held it since 100 and had not frozen yet.
  rows.push_back(at(8, "c", 7, 3, 120, 130));
  CheckReport r2 = check(rows, {{"h", acked(7)}}, pauses);
  EXPECT_EQ(r2.overlaps - r2.late.overlaps, 1) << format_table(r2);
  EXPECT_FALSE(r2.ok_but_late());
}

TEST(AlertsChecker, HostsWithProblemsLateRowsDoNotExplainComeFirst) {
  // Host "late" has several problems, all from a's write across its pause; host "own" has one
  // order violation nobody paused for.
  std::vector<StoreRow> rows = {at(1, "a", 1, 1, 0, 10),     at(2, "b", 2, 2, 400, 410), at(3, "b", 3, 2, 420, 430),
                                at(4, "a", 1, 1, 5, 1010),   at(5, "c", 1, 1, 1100, 1110), at(6, "c", 3, 1, 1120, 1130),
                                at(7, "c", 2, 1, 1140, 1150)};
  for (std::size_t i = 0; i < 4; ++i) rows[i].host = "late";
  for (std::size_t i = 4; i < rows.size(); ++i) rows[i].host = "own";
  CheckReport r = check(rows, {{"late", acked(3)}, {"own", acked(3)}}, {{"a", 50, 1000}});
  ASSERT_EQ(r.worst.size(), 2u) << format_table(r);
  EXPECT_EQ(r.worst[0].host, "own");
  EXPECT_GT(r.worst[1].problems(), r.worst[0].problems());
}

TEST(AlertsChecker, AWrongFinalStateIsLateOnlyWhenTheLateWriteIsWhatMadeItWrong) {
  std::vector<StoreRow> rows = {at(1, "a", 1, 1, 0, 10), at(2, "b", 2, 2, 400, 410), at(3, "a", 1, 1, 5, 1010)};
  std::vector<Pause> pauses = {{"a", 50, 1000}};
  CheckReport r = check(rows, {{"h", acked(2)}}, pauses);
  EXPECT_EQ(r.final_mismatches, 1);
  EXPECT_EQ(r.late.final_mismatches, 1);
  EXPECT_TRUE(r.ok_but_late()) << format_table(r);
  // Acknowledged 3, never applied: lost, and wrong whatever the late row did.
  CheckReport lost = check(rows, {{"h", acked(3)}}, pauses);
  EXPECT_EQ(lost.lost, 1);
  EXPECT_EQ(lost.late.final_mismatches, 0);
  EXPECT_FALSE(lost.ok_but_late());
}

TEST(AlertsAcked, RoundTripsThroughAFileAndNamesBadLines) {
  TempDir dir;
  Acked with_flight{4, "UP", 5, "DOWN"};
  std::map<std::string, Acked> written = {
      {"host-1", acked(3)}, {"host-2", with_flight}, {"host-3", {0, "", 1, "DOWN"}}};
  write_acked(dir / "acked.jsonl", written);
  EXPECT_EQ(read_acked(dir / "acked.jsonl"), written);

  auto error_of = [&](const std::string& text) -> std::string {
    {
      std::ofstream out(dir / "bad.jsonl");
      out << text;
    }
    try {
      read_acked(dir / "bad.jsonl");
    } catch (const frodo::Error& e) {
      EXPECT_EQ(e.code(), frodo::Errc::invalid_argument);
      return e.what();
    }
    ADD_FAILURE() << "accepted " << text;
    return "";
  };
  std::string file = (dir / "bad.jsonl").string();
  EXPECT_EQ(error_of("{\"host\":\"a\",\"seq\":1,\"status\":\"UP\"}\n\nnope\n"), file + ":3: not a JSON object");
  EXPECT_EQ(error_of("{\"host\":\"a b\",\"seq\":1,\"status\":\"UP\"}\n"),
            file + ":1: bad host 'a b': expected 1-253 characters of A-Z a-z 0-9 . _ -");
  EXPECT_EQ(error_of("{\"host\":\"a\",\"seq\":-2,\"status\":\"UP\"}\n"),
            file + ":1: seq must be an integer >= 1, got '-2'");
  EXPECT_EQ(error_of("{\"host\":\"a\",\"seq\":1,\"status\":\"UP\"}\n{\"host\":\"a\",\"seq\":2,\"status\":\"UP\"}\n"),
            file + ":2: host 'a' appears twice");
  EXPECT_THROW(read_acked(dir / "missing.jsonl"), frodo::Error);
}

// ---- servers and a client over the in-memory registry ----

frodo::ClusterOptions cluster_options() {
  frodo::ClusterOptions o;
  o.context = "alerts";
  o.logger = [](const std::string&) {};
  return o;
}

AlertServerOptions server_options(const std::shared_ptr<frodo::MemoryRegistry>& registry, const fs::path& store,
                                  bool guard = true) {
  AlertServerOptions o;
  o.cluster = cluster_options();
  o.memory_registry = registry;
  o.store_path = store.string();
  o.guard = guard;
  o.work = 100us;
  o.threads = 16;
  return o;
}

EventClientOptions client_options(const std::shared_ptr<frodo::MemoryRegistry>& registry, std::int64_t events) {
  EventClientOptions o;
  o.cluster = cluster_options();
  o.memory_registry = registry;
  o.hosts = 40;
  o.workers = 4;
  o.events = events;
  return o;
}

// Runs the client on its own thread; finish() waits (bounded) for it to return.
class ClientRun {
 public:
  explicit ClientRun(EventClient& client) : client_(client), thread_([this] {
    try {
      client_.run();
    } catch (const std::exception& e) {
      error_ = e.what();
    }
    done_ = true;
  }) {}
  ~ClientRun() { stop_and_join(); }
  // True if the client finished on its own within the limit; stops it otherwise.
  bool finish(std::chrono::milliseconds limit = 60s) {
    bool finished = eventually([&] { return done_.load(); }, limit);
    stop_and_join();
    return finished;
  }
  void stop_and_join() {
    client_.stop();
    if (thread_.joinable()) thread_.join();
  }
  const std::string& error() const { return error_; }

 private:
  EventClient& client_;
  std::atomic<bool> done_{false};
  std::string error_;
  std::thread thread_;
};

// An id `owner` owns in `server`'s view.
std::string host_owned_by(AlertServer& server, const std::string& owner) {
  for (int i = 1; i < 100000; ++i) {
    std::string host = "host-" + std::to_string(i);
    if (server.cluster().server_by_id(host) == owner) return host;
  }
  ADD_FAILURE() << "no host owned by " << owner;
  return "";
}

bool sees_members(AlertServer& server, std::size_t n) { return server.stats().members == n; }

TEST(AlertsServers, RejectBadBodiesAndStoreNothing) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServer server(server_options(registry, dir / "alerts.db"));
  server.start();
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(10s);

  auto bad = http.Post("/events", "{\"host\":\"web 1\",\"seq\":1,\"status\":\"UP\"}", "application/json");
  ASSERT_TRUE(bad) << httplib::to_string(bad.error());
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body).at("error"), "bad host 'web 1': expected 1-253 characters of A-Z a-z 0-9 . _ -");
  auto no_seq = http.Post("/events", "{\"host\":\"web-1\",\"status\":\"UP\"}", "application/json");
  ASSERT_TRUE(no_seq);
  EXPECT_EQ(no_seq->status, 400);
  EXPECT_EQ(json::parse(no_seq->body).at("error"), "missing seq");
  auto not_json = http.Post("/events", "web-1 DOWN", "text/plain");
  ASSERT_TRUE(not_json);
  EXPECT_EQ(not_json->status, 400);
  auto huge = http.Post("/events", std::string(max_event_bytes + 1, ' '), "application/json");
  ASSERT_TRUE(huge);
  EXPECT_EQ(huge->status, 413);
  EXPECT_NE(json::parse(huge->body).at("error").get<std::string>().find("4097 bytes"), std::string::npos);
  auto bad_revision = http.Post("/events", {{"X-Frodo-Revision", "soon"}}, to_json({"web-1", 1, "UP"}),
                                "application/json");
  ASSERT_TRUE(bad_revision);
  EXPECT_EQ(bad_revision->status, 400);
  EXPECT_EQ(json::parse(bad_revision->body).at("error"), "bad X-Frodo-Revision 'soon': expected an integer >= 0");

  EXPECT_TRUE(Store(dir / "alerts.db").rows().empty());
  EXPECT_EQ(server.stats().rejected, 5u);
  auto health = http.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST(AlertsServers, ServeTheClustersAndTheGuardsMetrics) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServer server(server_options(registry, dir / "alerts.db"));
  server.start();
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(10s);
  std::string host = host_owned_by(server, server.address());
  auto applied = http.Post("/events", to_json({host, 1, "DOWN"}), "application/json");
  ASSERT_TRUE(applied);
  ASSERT_EQ(applied->status, 200) << applied->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_EQ(metrics->get_header_value("Content-Type"), frodo::prometheus_content_type);
  const std::string guard = "context=\"" + server.cluster().stats().context + "\",server=\"" + server.address() + "\"";
  EXPECT_NE(metrics->body.find("frodo_view_servers{"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("frodo_guard_verdicts_total{" + guard + ",verdict=\"admit\",reason=\"\"} 1\n"),
            std::string::npos)
      << metrics->body;
}

TEST(AlertsServers, AppliesOnceAndRedirectsToTheOwner) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServer a(server_options(registry, dir / "alerts.db")), b(server_options(registry, dir / "alerts.db"));
  a.start();
  b.start();
  ASSERT_TRUE(eventually([&] { return sees_members(a, 2) && sees_members(b, 2); }));
  std::string host = host_owned_by(a, a.address());
  httplib::Client to_a("127.0.0.1", a.port()), to_b("127.0.0.1", b.port());
  to_a.set_read_timeout(10s);
  to_b.set_read_timeout(10s);
  std::string body = to_json({host, 1, "DOWN"});

  auto wrong = to_b.Post("/events", body, "application/json");
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 421) << wrong->body;
  EXPECT_EQ(json::parse(wrong->body).at("redirect"), a.address());
  EXPECT_GT(json::parse(wrong->body).at("revision").get<std::int64_t>(), 0);

  // The guard admits once every server has released the current epoch; until then, 503.
  std::string last_answer;
  ASSERT_TRUE(eventually([&] {
    httplib::Result applied = to_a.Post("/events", body, "application/json");
    if (!applied) {
      last_answer = httplib::to_string(applied.error());
      return false;
    }
    last_answer = std::to_string(applied->status) + " " + applied->body;
    return applied->status == 200;
  })) << last_answer;
  json answer = json::parse(last_answer.substr(4));
  EXPECT_EQ(answer.at("result"), "applied");
  EXPECT_GT(answer.at("token").get<std::int64_t>(), 0);
  auto again = to_a.Post("/events", body, "application/json");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200);
  EXPECT_EQ(json::parse(again->body).at("result"), "duplicate");
  // One row applied the event; the second answer is recorded too, as what it was.
  std::vector<StoreRow> rows = Store(dir / "alerts.db").rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].result, RowResult::applied);
  EXPECT_EQ(rows[1].result, RowResult::duplicate);
  EXPECT_EQ(rows[1].seq, 1);
  EXPECT_EQ(rows[1].server, a.address());
  EXPECT_EQ(rows[1].token, rows[0].token);
  EXPECT_LE(rows[1].admitted_us, rows[1].done_us);
  EXPECT_LE(rows[0].done_us, rows[1].admitted_us);  // one after the other
  CheckReport report = check(rows, {{host, acked(1)}});
  EXPECT_TRUE(report.ok()) << format_table(report);
  EXPECT_EQ(report.rows, 1);
  EXPECT_EQ(report.duplicate_answers, 1);

  auto stats = to_a.Get("/stats");
  ASSERT_TRUE(stats);
  json s = json::parse(stats->body);
  EXPECT_EQ(s.at("address"), a.address());
  EXPECT_EQ(s.at("applied"), 1);
  EXPECT_EQ(s.at("duplicates"), 1);
  EXPECT_EQ(s.at("members"), 2);
  EXPECT_EQ(b.stats().redirected, 1u);
}

// The scenario with a stable membership: every event flows, none lost, none reordered.
void run_steady(bool guard) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServer a(server_options(registry, dir / "alerts.db", guard));
  AlertServer b(server_options(registry, dir / "alerts.db", guard));
  a.start();
  b.start();
  constexpr std::int64_t events = 1500;
  EventClient client(client_options(registry, events));
  ClientRun run(client);
  ASSERT_TRUE(run.finish()) << "the client did not finish: " << client.counters().acknowledged << " acknowledged";
  ASSERT_EQ(run.error(), "");
  EventClientCounters c = client.counters();
  EXPECT_EQ(c.acknowledged, std::uint64_t(events));
  EXPECT_EQ(c.given_up, 0u);

  std::map<std::string, Acked> acked = client.acknowledged();
  std::int64_t total = 0;
  for (const auto& [host, seq] : client.acknowledged_seq()) total += seq;
  EXPECT_EQ(total, events);
  CheckReport report = check(Store(dir / "alerts.db").rows(), acked);
  EXPECT_TRUE(report.ok()) << format_table(report);
  EXPECT_EQ(report.acknowledged, events);
  EXPECT_EQ(report.rows, events);
  EXPECT_EQ(report.duplicates, 0);
  EXPECT_EQ(a.stats().applied + b.stats().applied, std::uint64_t(events));
}

// A server's answer is input from outside: a redirect whose "revision" is not a number (or
// a body that is not JSON at all) is a redirect without a revision, not an exception that
// ends the client's worker and with it the whole run.
TEST(AlertsClient, AHostileRedirectAnswerIsARedirectWithoutARevision) {
  auto registry = frodo::MemoryRegistry::create();
  httplib::Server fake;
  std::atomic<int> answered{0};
  fake.Post("/events", [&](const httplib::Request&, httplib::Response& res) {
    int n = answered.fetch_add(1);
    if (n % 3 == 0) {
      res.status = 421;
      res.set_content(R"({"redirect":"127.0.0.1:1","revision":"soon"})", "application/json");
    } else if (n % 3 == 1) {
      res.status = 421;
      res.set_content("<html>not json</html>", "text/html");
    } else {
      res.status = 200;
      res.set_content(R"({"result":"applied"})", "application/json");
    }
  });
  int port = fake.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread serving([&] { fake.listen_after_bind(); });
  ASSERT_TRUE(eventually([&] { return fake.is_running(); }));  // so that stop() below stops it
  {
    frodo::Cluster owner(cluster_options(), registry);
    owner.add_server("127.0.0.1:" + std::to_string(port));  // the only server: it owns every host
    EventClientOptions o = client_options(registry, 30);
    o.workers = 1;
    EventClient client(o);
    ClientRun run(client);
    EXPECT_TRUE(run.finish()) << "the client did not finish";
    EXPECT_EQ(run.error(), "");
    EventClientCounters c = client.counters();
    EXPECT_EQ(c.acknowledged, 30u);
    EXPECT_GE(c.redirects, 30u) << "two redirects before each acknowledgement";
  }
  fake.stop();
  serving.join();
}

TEST(AlertsServers, GuardedEventsFlowInOrder) { run_steady(true); }
TEST(AlertsServers, UnguardedEventsFlowInOrderWhileNothingMoves) { run_steady(false); }

// Servers join and leave while the client sends: the guard keeps every host in order, one
// server at a time, with or without a store that fences stale tokens.
void run_handoffs(bool fencing) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServerOptions o = server_options(registry, dir / "alerts.db");
  o.fencing = fencing;
  AlertServer a(o);
  auto b = std::make_unique<AlertServer>(o);
  a.start();
  b->start();
  // Both registered and released the epoch of the second join: what they release from here
  // on is the churn's, not the start-up's.
  ASSERT_TRUE(eventually([&] {
    AlertServerStats sa = a.stats(), sb = b->stats();
    // Epochs can differ by server (an epoch is the revision of the view a server first saw
    // the change in), and released can be above them (a guard answers a peer's later epoch
    // with its view's revision): both must have released both.
    std::int64_t newest = std::max(sa.epoch, sb.epoch);
    return sa.members == 2 && sb.members == 2 && sa.released >= newest && sb.released >= newest;
  })) << "a: members " << a.stats().members << " epoch " << a.stats().epoch << " released " << a.stats().released
      << "; b: members " << b->stats().members << " epoch " << b->stats().epoch << " released " << b->stats().released;
  const std::uint64_t a_startup_releases = a.stats().releases;
  EventClient client(client_options(registry, 0));
  ClientRun run(client);
  auto acknowledged = [&] { return client.counters().acknowledged; };
  ASSERT_TRUE(eventually([&] { return acknowledged() >= 300; }, 30s));
  EXPECT_EQ(a.stats().releases, a_startup_releases);  // nothing moved yet

  AlertServer c(o);  // joins: hosts move to it
  c.start();
  std::uint64_t at_join = acknowledged();
  ASSERT_TRUE(eventually([&] { return c.stats().applied >= 50 && acknowledged() >= at_join + 300; }, 30s));
  EXPECT_GT(a.stats().releases, a_startup_releases);  // a released the join's epoch

  b->leave();  // graceful: its hosts move to a and c
  b.reset();
  std::uint64_t at_leave = acknowledged();
  ASSERT_TRUE(eventually([&] { return acknowledged() >= at_leave + 300; }, 30s));
  run.stop_and_join();
  ASSERT_EQ(run.error(), "");

  std::vector<StoreRow> rows = Store(dir / "alerts.db").rows();
  CheckReport report = check(rows, client.acknowledged());
  EXPECT_TRUE(report.ok()) << format_table(report);
  EXPECT_EQ(report.violations, 0) << format_table(report);
  EXPECT_EQ(report.overlaps, 0) << format_table(report);
  EXPECT_EQ(report.token_violations, 0) << format_table(report);
  EXPECT_EQ(report.lost, 0) << format_table(report);
  // Hosts did change servers: some host's rows come from more than one.
  std::map<std::string, std::set<std::string>> servers_of;
  for (const StoreRow& r : rows) servers_of[r.host].insert(r.server);
  EXPECT_TRUE(std::any_of(servers_of.begin(), servers_of.end(), [](const auto& h) { return h.second.size() > 1; }));
}

TEST(AlertsServers, GuardedHandoffsLoseAndReorderNothing) { run_handoffs(true); }
TEST(AlertsServers, GuardedHandoffsWithoutFencingLoseAndReorderNothing) { run_handoffs(false); }

TEST(AlertsServers, AServerNotJoinedYetAnswersWaitThenServesOnceJoined) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServerOptions o = server_options(registry, dir / "alerts.db");
  o.join = false;
  AlertServer server(o);
  server.start();
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(10s);
  std::string body = to_json({"web-1", 1, "DOWN"});
  auto early = http.Post("/events", body, "application/json");
  ASSERT_TRUE(early);
  EXPECT_EQ(early->status, 503);
  EXPECT_EQ(json::parse(early->body).at("wait"), "not joined");
  EXPECT_TRUE(server.cluster().snapshot()->servers.empty());  // not registered

  server.join();
  server.join();  // idempotent
  std::string last_answer;
  ASSERT_TRUE(eventually([&] {
    auto res = http.Post("/events", body, "application/json");
    last_answer = res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error());
    return res && res->status == 200;
  })) << last_answer;
  EXPECT_EQ(server.cluster().snapshot()->servers.size(), 1u);
}

TEST(AlertsServers, SetWorkSlowsTheEventsAdmittedAfterIt) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServer server(server_options(registry, dir / "alerts.db"));
  server.start();
  httplib::Client http("127.0.0.1", server.port());
  http.set_read_timeout(10s);
  server.set_work(60ms);
  ASSERT_TRUE(eventually([&] {
    auto res = http.Post("/events", to_json({"web-1", 1, "DOWN"}), "application/json");
    return res && res->status == 200;
  }));
  server.set_work(0us);
  auto fast = http.Post("/events", to_json({"web-1", 2, "UP"}), "application/json");
  ASSERT_TRUE(fast);
  ASSERT_EQ(fast->status, 200);
  std::vector<StoreRow> rows = Store(dir / "alerts.db").rows();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_GE(rows[0].done_us - rows[0].admitted_us, 60'000);  // the work is inside the admission
}

TEST(AlertsServers, BadOptionsAreNamed) {
  TempDir dir;
  auto registry = frodo::MemoryRegistry::create();
  AlertServerOptions o = server_options(registry, dir / "alerts.db");
  o.advertise = "nowhere:0";
  try {
    AlertServer server(o);
    FAIL() << "accepted " << o.advertise;
  } catch (const frodo::Error& e) {
    EXPECT_EQ(e.code(), frodo::Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("nowhere:0"), std::string::npos) << e.what();
  }
  o = server_options(registry, dir / "alerts.db");
  o.work = std::chrono::microseconds(-5);
  try {
    AlertServer server(o);
    FAIL() << "accepted a negative work time";
  } catch (const frodo::Error& e) {
    EXPECT_EQ(e.code(), frodo::Errc::invalid_argument);
    EXPECT_EQ(std::string(e.what()), "work must not be negative, got -5 us");
  }
  EventClientOptions c = client_options(registry, 0);
  c.workers = 0;
  EXPECT_THROW(EventClient client(c), frodo::Error);
  c = client_options(registry, -1);
  EXPECT_THROW(EventClient client(c), frodo::Error);
}

}  // namespace
}  // namespace alerts
