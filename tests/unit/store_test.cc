#include <doctest/doctest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>

#include "common/attempt_log.h"
#include "common/local_store.h"
#include "common/remember.h"
#include "common/store_logic.h"
#include "tests/support/files.h"
#include "tests/support/memory_store.h"
#include "tests/unit/store_contract.h"

namespace defender::testing {
namespace {

struct MemoryFactory {
  std::unique_ptr<Store> Make() { return std::make_unique<MemoryStore>(); }
};

// Each store gets a new directory in a temporary directory.
class LocalFactory {
 public:
  std::unique_ptr<Store> Make() {
    std::string err;
    auto store =
        LocalStore::Open(dir_ / ("s" + std::to_string(n_++)), 1000, &err);
    REQUIRE_MESSAGE(store != nullptr, err);
    return store;
  }

 private:
  TempDir dir_;
  int n_ = 0;
};

TEST_CASE("MemoryStore follows the store contract") {
  MemoryFactory f;
  CheckStoreContract(f);
}

TEST_CASE("LocalStore follows the store contract") {
  LocalFactory f;
  CheckStoreContract(f);
}

TEST_CASE("RememberUntil: to the end of the hour the days end in") {
  // 1,700,000,000 is 800 s into an hour; 1,800,000,000 starts one.
  constexpr int64_t kDay = 86400;
  CHECK(RememberUntil(1'700'000'000, kDay) == 1'700'000'000 + kDay + 2800);
  CHECK(RememberUntil(1'700'002'799, kDay) == 1'700'002'799 + kDay + 1);
  CHECK(RememberUntil(1'700'002'800, kDay) == 1'700'002'800 + kDay + 3600);
  CHECK(RememberUntil(1'700'002'801, kDay) == 1'700'002'801 + kDay + 3599);
  CHECK(RememberUntil(1'800'000'000, 30 * kDay) ==
        1'800'000'000 + 30 * kDay + 3600);
  CHECK(RememberUntil(1'800'000'001, 3650 * kDay) ==
        1'800'000'001 + 3650 * kDay + 3599);
  // Before 1970 (a clock set wrong) it rounds towards the past too.
  CHECK(RememberUntil(-kDay - 1, kDay) == 0);
  CHECK(RememberUntil(-kDay - 3600, kDay) == 0);
  CHECK(RememberUntil(-kDay - 3601, kDay) == -3600);
  // The hour of the success, back from the time (also one stored by the
  // previous release, unrounded).
  CHECK(RememberedSince(1'700'000'000 + kDay + 2800, kDay) == 1'699'999'200);
  CHECK(RememberedSince(1'800'000'000 + kDay + 3600, kDay) == 1'800'000'000);
  CHECK(RememberedSince(1'800'000'120 + kDay, kDay) == 1'800'000'000);
  CHECK(RememberedSince(3600 + kDay, kDay) == 0);
  CHECK(RememberedSince(kDay - 1, kDay) == -3600);
}

TEST_CASE("RememberHost says whether it changed the list") {
  RememberedList list;
  CHECK(RememberHost(&list, "192.0.2.10", 5000, 1000));
  CHECK(list == RememberedList{{"192.0.2.10", 5000}});
  // The same time again: unchanged.
  CHECK_FALSE(RememberHost(&list, "192.0.2.10", 5000, 1001));
  CHECK(RememberHost(&list, "192.0.2.11", 2000, 1001));
  CHECK_FALSE(RememberHost(&list, "192.0.2.10", 5000, 1002));
  // Another time for it: changed (moved to the end).
  CHECK(RememberHost(&list, "192.0.2.10", 4000, 1002));
  CHECK(list == RememberedList{{"192.0.2.11", 2000}, {"192.0.2.10", 4000}});
  // Its own time, but another entry has expired at `now`: dropped.
  CHECK(RememberHost(&list, "192.0.2.10", 4000, 2000));
  CHECK(list == RememberedList{{"192.0.2.10", 4000}});
  // A host there twice (a hand-made record) is made one entry.
  RememberedList twice{{"192.0.2.10", 4000}, {"192.0.2.10", 9000}};
  CHECK(RememberHost(&twice, "192.0.2.10", 4000, 2000));
  CHECK(twice == RememberedList{{"192.0.2.10", 4000}});
  // A list longer than kMaxRememberedHosts (a hand-made record) is cut.
  RememberedList many;
  for (size_t i = 0; i <= kMaxRememberedHosts; ++i) {
    many.push_back({"h" + std::to_string(i), 9000 + static_cast<int64_t>(i)});
  }
  CHECK(RememberHost(&many, "h0", 9000, 1000));
  CHECK(many.size() == kMaxRememberedHosts);
}

TEST_CASE(
    "MemoryStore::Prune removes exactly the expired records and history") {
  MemoryStore s;
  const LockoutParams p{300, {600}, 86400};
  std::string err;
  Fail(s, kAlice, 0, p, kT0);                       // Block at kT0, 600 s.
  Fail(s, {SubjectKind::kUser, "bob"}, 3, p, kT0);  // Counter until kT0+300.
  Fail(s, kHostA, 3, p, kT0 + 86200);               // Live at kT0 + 86401.
  int64_t removed = 0;
  REQUIRE(s.Prune(kT0 + 86401, 86400, &removed, &err));
  CHECK(removed == 3);  // alice's and bob's records, alice's history entry.
  std::vector<StoreEntry> left;
  REQUIRE(s.List(kT0 + 86401, false, &left, &err));
  REQUIRE(left.size() == 1);
  CHECK(left[0].subject == kHostA);
}

TEST_CASE("the failures of listed subjects add up without overflow") {
  // Counts a store hands back (a Redis anyone with its password writes)
  // are summed at the int64_t limit, not past it.
  const SubjectState huge{INT64_MAX - 1, false, 0};
  const StoreEntry entries[] = {{kAlice, huge}, {kHostA, huge}};
  StoreStats stats;
  CountEntries(entries, &stats);
  CHECK(stats.failures == INT64_MAX);
  CHECK(stats.failing_users == 1);
  CHECK(stats.failing_hosts == 1);
  CHECK(AddSaturated(INT64_MIN + 1, -2) == INT64_MIN);
  CHECK(AddSaturated(40, 2) == 42);
}

TEST_CASE("SqliteDb creates its directory 0700 and database 0600") {
  TempDir dir;
  const std::string path = dir.path() + "/state/attempts.db";
  std::string err;
  auto db = SqliteDb::Open(path, 1000, &err);
  REQUIRE_MESSAGE(db != nullptr, err);
  struct stat st;
  REQUIRE(stat((dir.path() + "/state").c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0700);
  REQUIRE(stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("SqliteDb writes the schema version and uses WAL") {
  TempDir dir;
  std::string err;
  auto db = SqliteDb::Open(dir.path() + "/d.db", 1000, &err);
  REQUIRE(db != nullptr);
  SqliteDb::Statement v(db.get(), "PRAGMA user_version");
  REQUIRE(v.Step());
  CHECK(v.Int(0) == SqliteDb::kSchemaVersion);
  SqliteDb::Statement j(db.get(), "PRAGMA journal_mode");
  REQUIRE(j.Step());
  CHECK(j.Text(0) == "wal");
}

TEST_CASE(
    "SqliteDb keeps the WAL between connections and checkpoints it once it "
    "has grown") {
  TempDir dir;
  const std::string path = dir.path() + "/d.db";
  std::string err;
  {
    auto db = SqliteDb::Open(path, 1000, &err);
    REQUIRE_MESSAGE(db != nullptr, err);
    REQUIRE(db->Exec("CREATE TABLE t(b BLOB)", &err));
  }
  // WAL frames: a 32-byte header, then a 24-byte header and a page each.
  auto frames = [&] { return SqliteDb::WalFrames(path); };  // -1: removed.
  REQUIRE(frames() > 0);  // The schema change is still in the WAL.
  int checkpoints = 0;
  int64_t last = frames();
  for (int i = 0; i < 200; ++i) {
    {
      // One connection per write, as one per PAM step; each row fills a
      // page of its own.
      auto db = SqliteDb::Open(path, 1000, &err);
      REQUIRE_MESSAGE(db != nullptr, err);
      REQUIRE(db->Exec("INSERT INTO t VALUES (zeroblob(3000))", &err));
    }
    const int64_t now = frames();
    if (now == -1) {
      // Checkpointed on close: only once the WAL had reached the limit (an
      // insert adds at most 4 frames: leaf, interior, root, header page).
      CHECK(last + 4 >= SqliteDb::kWalCheckpointFrames);
      ++checkpoints;
    } else {
      CHECK(now < SqliteDb::kWalCheckpointFrames);
      CHECK(now > std::max<int64_t>(last, 0));
    }
    last = now;
  }
  CHECK(checkpoints >= 3);
  auto db = SqliteDb::Open(path, 1000, &err);
  REQUIRE(db != nullptr);
  SqliteDb::Statement n(db.get(), "SELECT count(*) FROM t");
  REQUIRE(n.Step());
  CHECK(n.Int(0) == 200);
}

TEST_CASE("SqliteDb: a connection that only reads checkpoints a long WAL") {
  TempDir dir;
  const std::string path = dir.path() + "/d.db";
  std::string err;
  REQUIRE(SqliteDb::Open(path, 1000, &err) != nullptr);  // Schema.
  {
    // Another program's connection grows the WAL and leaves it.
    sqlite3* raw = nullptr;
    REQUIRE(sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE,
                            nullptr) == SQLITE_OK);
    sqlite3_db_config(raw, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
    REQUIRE(sqlite3_exec(raw,
                         "CREATE TABLE t(b BLOB);"
                         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL "
                         "SELECT i + 1 FROM n WHERE i < 100) "
                         "INSERT INTO t SELECT zeroblob(3000) FROM n",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(raw);
  }
  REQUIRE(SqliteDb::WalFrames(path) >= SqliteDb::kWalCheckpointFrames);
  {
    auto db = SqliteDb::Open(path, 1000, &err);
    REQUIRE_MESSAGE(db != nullptr, err);
    SqliteDb::Statement n(db.get(), "SELECT count(*) FROM t");
    REQUIRE(n.Step());
    CHECK(n.Int(0) == 100);
  }
  CHECK(SqliteDb::WalFrames(path) == -1);  // Checkpointed, removed.
  auto db = SqliteDb::Open(path, 1000, &err);
  REQUIRE(db != nullptr);
  SqliteDb::Statement n(db.get(), "SELECT count(*) FROM t");
  REQUIRE(n.Step());
  CHECK(n.Int(0) == 100);
}

TEST_CASE("SqliteDb refuses a database with a newer schema") {
  TempDir dir;
  const std::string path = dir.path() + "/d.db";
  std::string err;
  {
    auto db = SqliteDb::Open(path, 1000, &err);
    REQUIRE(db != nullptr);
    REQUIRE(db->Exec("PRAGMA user_version = 99", &err));
  }
  CHECK(SqliteDb::Open(path, 1000, &err) == nullptr);
  CHECK(err == path + ": schema version 99 is newer than this program's (2)");
}

TEST_CASE("SqliteDb does not follow a symlink") {
  TempDir dir;
  const std::string target = dir.path() + "/target.db";
  const std::string link = dir.path() + "/link.db";
  std::string err;
  REQUIRE(SqliteDb::Open(target, 1000, &err) != nullptr);
  REQUIRE(symlink(target.c_str(), link.c_str()) == 0);
  CHECK(SqliteDb::Open(link, 1000, &err) == nullptr);
  CHECK(err.find(link) == 0);
}

TEST_CASE("SqliteAttemptLog appends, filters newest first and prunes") {
  TempDir dir;
  std::string err;
  auto db = SqliteDb::Open(dir.path() + "/d.db", 1000, &err);
  REQUIRE(db != nullptr);
  SqliteAttemptLog log(db.get());
  REQUIRE(
      log.Append({100, "sshd", "alice", "192.0.2.1", "ssh", "failure"}, &err));
  REQUIRE(
      log.Append({200, "sshd", "bob", "192.0.2.1", "ssh", "success"}, &err));
  REQUIRE(log.Append({300, "sudo", "alice", "", "pts/1", "refused"}, &err));

  std::vector<Attempt> rows;
  REQUIRE(log.Query({}, &rows, &err));
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].time == 300);
  CHECK(rows[0].service == "sudo");
  CHECK(rows[0].tty == "pts/1");
  CHECK(rows[2].time == 100);

  AttemptFilter by_user;
  by_user.user = "alice";
  REQUIRE(log.Query(by_user, &rows, &err));
  CHECK(rows.size() == 2);
  AttemptFilter by_host;
  by_host.host = "192.0.2.1";
  by_host.result = "success";
  REQUIRE(log.Query(by_host, &rows, &err));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].user == "bob");
  AttemptFilter recent;
  recent.since = 200;
  recent.limit = 1;
  REQUIRE(log.Query(recent, &rows, &err));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].time == 300);

  AttemptCounts counts;
  REQUIRE(log.Count(0, &counts, &err));
  CHECK(counts.failure == 1);
  CHECK(counts.success == 1);
  CHECK(counts.refused == 1);

  int64_t n = 0;
  REQUIRE(log.Prune(250, /*dry_run=*/true, &n, &err));
  CHECK(n == 2);
  REQUIRE(log.Query({}, &rows, &err));
  CHECK(rows.size() == 3);
  REQUIRE(log.Prune(250, /*dry_run=*/false, &n, &err));
  CHECK(n == 2);
  REQUIRE(log.Query({}, &rows, &err));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].time == 300);
}

// Counts the rows each transaction of `db` deletes (SQLite's update and
// commit hooks) while it lives.
class BatchCounter {
 public:
  explicit BatchCounter(SqliteDb* db) : db_(db) {
    sqlite3_update_hook(
        db_->handle(),
        [](void* b, int op, const char*, const char*, sqlite3_int64) {
          if (op == SQLITE_DELETE)
            ++static_cast<BatchCounter*>(b)->rows_.back();
        },
        this);
    sqlite3_commit_hook(
        db_->handle(),
        [](void* b) {
          static_cast<BatchCounter*>(b)->rows_.push_back(0);
          return 0;
        },
        this);
  }
  ~BatchCounter() {
    sqlite3_update_hook(db_->handle(), nullptr, nullptr);
    sqlite3_commit_hook(db_->handle(), nullptr, nullptr);
  }
  // DeleteInBatches' batches: the first of 64 rows (its first limit),
  // batch i of at most 64 << i (the limit at most doubles from one batch
  // to the next; a batch may delete fewer than its limit, and a slow one
  // keeps or halves it), each deleting some, `total` in all.
  void Check(int64_t total) const {
    std::vector<int64_t> rows = rows_;
    rows.pop_back();  // After the last commit.
    CAPTURE(rows.size());
    REQUIRE(rows.size() >= 2);
    CHECK(rows[0] == 64);
    int64_t sum = 0;
    for (size_t i = 0; i < rows.size(); ++i) {
      CAPTURE(i);
      CHECK(rows[i] > 0);
      CHECK(rows[i] <= (int64_t{64} << std::min<size_t>(i, 20)));
      sum += rows[i];
    }
    CHECK(sum == total);
  }

 private:
  SqliteDb* db_;
  std::vector<int64_t> rows_{0};
};

// Prune deletes in batches of a time range, the oldest first: rows sharing
// one second beyond a batch, times out of id order, and the rows at or
// after the cut-off kept.
TEST_CASE("SqliteAttemptLog::Prune deletes exactly the rows before the cut") {
  TempDir dir;
  std::string err;
  auto db = SqliteDb::Open(dir.path() + "/d.db", 1000, &err);
  REQUIRE(db != nullptr);
  SqliteAttemptLog log(db.get());
  {
    SqliteDb::Transaction txn(db.get());
    REQUIRE(txn.ok());
    const auto add = [&](int64_t t) {
      REQUIRE_MESSAGE(log.Append({t, "sshd", "u", "", "", "failure"}, &err),
                      err);
    };
    for (int i = 0; i < 50; ++i) add(450);   // At the cut: kept.
    for (int i = 0; i < 700; ++i) add(100);  // One second, 700 rows.
    for (int t = 400; t > 100; --t) add(t);  // Newest first by id.
    for (int t = 500; t < 700; ++t) add(t);  // After the cut: kept.
    for (int i = 0; i < 130; ++i) add(449);  // Just before it.
    REQUIRE(txn.Commit(&err));
  }
  int64_t n = 0;
  REQUIRE(log.Prune(450, /*dry_run=*/true, &n, &err));
  CHECK(n == 700 + 300 + 130);
  // Rows deleted per transaction: each batch in its own, the first of 64
  // rows (the oldest, all of the one second), never all at once.
  BatchCounter batches(db.get());
  REQUIRE_MESSAGE(log.Prune(450, /*dry_run=*/false, &n, &err), err);
  CHECK(n == 700 + 300 + 130);
  batches.Check(700 + 300 + 130);
  std::vector<Attempt> rows;
  REQUIRE(log.Query({}, &rows, &err));
  REQUIRE(rows.size() == 250);
  CHECK(rows.front().time == 699);
  CHECK(rows.back().time == 450);
  CHECK(std::count_if(rows.begin(), rows.end(),
                      [](const Attempt& a) { return a.time == 450; }) == 50);
  REQUIRE(log.Prune(450, /*dry_run=*/false, &n, &err));
  CHECK(n == 0);
  // Everything, the last batch shorter than the others.
  REQUIRE(log.Prune(1000, /*dry_run=*/false, &n, &err));
  CHECK(n == 250);
  REQUIRE(log.Query({}, &rows, &err));
  CHECK(rows.empty());
}

// The archive's time column takes what SQLite lets a hand-edited database
// hold: times that are not integers are pruned as they compare, not as
// truncated integers (which deleted none, or more than a batch).
TEST_CASE("SqliteAttemptLog::Prune compares times that are not integers") {
  TempDir dir;
  std::string err;
  auto db = SqliteDb::Open(dir.path() + "/d.db", 1000, &err);
  REQUIRE(db != nullptr);
  SqliteAttemptLog log(db.get());
  REQUIRE(db->Exec(
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
      "WHERE i < 500) INSERT INTO attempts(time, service, user, host, tty, "
      "result) SELECT CASE WHEN i <= 200 THEN 100.5 WHEN i <= 400 THEN -0.5 "
      "ELSE 449.75 END, 's', 'u', '', '', 'failure' FROM c",
      &err));
  REQUIRE(log.Append({450, "sshd", "u", "", "", "failure"}, &err));
  int64_t n = 0;
  BatchCounter batches(db.get());
  REQUIRE_MESSAGE(log.Prune(450, /*dry_run=*/false, &n, &err), err);
  CHECK(n == 500);
  batches.Check(500);
  std::vector<Attempt> rows;
  REQUIRE(log.Query({}, &rows, &err));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].time == 450);
}

// Issue 10 finding 4: refused attempts are rows too, so an attacker could
// grow the attempt log without limit; attempts.max_rows bounds it (the
// archive's ingest runs Trim after each batch).
TEST_CASE("SqliteAttemptLog::Trim keeps at most max_rows rows, the newest") {
  TempDir dir;
  std::string err;
  auto db = SqliteDb::Open(dir.path() + "/d.db", 1000, &err);
  REQUIRE(db != nullptr);
  SqliteAttemptLog log(db.get(), /*max_rows=*/100);
  for (int64_t t = 1; t <= 1250; ++t) {
    REQUIRE_MESSAGE(
        log.Append({t, "sshd", "u" + std::to_string(t), "", "", "refused"},
                   &err),
        err);
  }
  std::vector<Attempt> rows;
  REQUIRE(log.Query({}, &rows, &err));
  CHECK(rows.size() == 1250);  // Append does not trim.
  int64_t n = 0;
  REQUIRE(log.Trim(0, /*dry_run=*/true, &n, &err));
  CHECK(n == 1150);
  // Rows older than `since` are Prune's, not counted here.
  REQUIRE(log.Trim(1000, /*dry_run=*/true, &n, &err));
  CHECK(n == 1150 - 1000 + 1);  // Ids (= times) 1000..1150.
  REQUIRE(log.Trim(0, /*dry_run=*/false, &n, &err));
  CHECK(n == 1150);
  REQUIRE(log.Query({}, &rows, &err));
  REQUIRE(rows.size() == 100);
  CHECK(rows.front().time == 1250);
  CHECK(rows.back().time == 1151);
  CHECK(rows.back().user == "u1151");
  SqliteAttemptLog unbounded(db.get());
  REQUIRE(unbounded.Trim(0, /*dry_run=*/false, &n, &err));
  CHECK(n == 0);
}

// Issue 10 finding 7: a store that another user owns or can write is not
// used (a world-writable directory lets anyone replace the files).
TEST_CASE("SqliteDb refuses a store that others own or can write") {
  TempDir dir;
  std::string err;
  const std::string path = dir.path() + "/s/d.db";
  REQUIRE(SqliteDb::Open(path, 1000, &err) != nullptr);
  REQUIRE(chmod(path.c_str(), 0620) == 0);
  CHECK(SqliteDb::Open(path, 1000, &err) == nullptr);
  CHECK(err == path + ": untrusted store: owned by uid " +
                   std::to_string(geteuid()) +
                   " with mode 0620 (must be "
                   "owned by uid " +
                   std::to_string(geteuid()) +
                   " and not writable by group or others)");
  CHECK(SqliteDb::OpenReadOnly(path, 1000, &err) == nullptr);
  REQUIRE(chmod(path.c_str(), 0644) == 0);
  CHECK(SqliteDb::Open(path, 1000, &err) != nullptr);
  REQUIRE(chmod((dir.path() + "/s").c_str(), 01777) == 0);
  CHECK(SqliteDb::Open(path, 1000, &err) == nullptr);
  CHECK(err.rfind(dir.path() + "/s: untrusted store: owned by uid ", 0) == 0);
  REQUIRE(chmod((dir.path() + "/s").c_str(), 0700) == 0);
  REQUIRE(unlink((path + "-wal").c_str()) == 0);
  REQUIRE(mkfifo((path + "-wal").c_str(), 0600) == 0);
  CHECK(SqliteDb::Open(path, 1000, &err) == nullptr);
  CHECK(err == path + "-wal: untrusted store: not a regular file");
}

}  // namespace
}  // namespace defender::testing
