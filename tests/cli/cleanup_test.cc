// defenderctl cleanup: prunes the attempt log (one DELETE on the time
// index) and expired store records; --dry-run only counts.
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "common/archive.h"
#include "common/attempt_log.h"
#include "common/sqlite_db.h"
#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

// Appends `n` attempt rows at times start + (i * step) % span through the
// common/ SqliteDb: one INSERT ... SELECT in one transaction.
void AddRows(SqliteDb* db, int64_t n, int64_t start, int64_t step,
             int64_t span = INT64_MAX) {
  std::string err;
  REQUIRE_MESSAGE(db->Exec("PRAGMA cache_size = -65536", &err), err);
  SqliteDb::Transaction txn(db);
  REQUIRE(txn.ok());
  SqliteDb::Statement st(
      db,
      "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n "
      "WHERE i + 1 < ?1) "
      "INSERT INTO attempts(time, service, user, host, tty, result) "
      "SELECT ?2 + (i * ?3) % ?4, 'sshd', "
      "CASE i % 2 WHEN 0 THEN 'bob' ELSE 'alice' END, '192.0.2.1', '', "
      "'failure' FROM n");
  REQUIRE(st.ok());
  st.Bind(1, n);
  st.Bind(2, start);
  st.Bind(3, step);
  st.Bind(4, span);
  st.Step();
  REQUIRE_FALSE(st.error());
  REQUIRE_MESSAGE(txn.Commit(&err), err);
}

int64_t CountRows(SqliteDb* db, const char* where) {
  SqliteDb::Statement st(
      db, (std::string("SELECT count(*) FROM attempts ") + where).c_str());
  REQUIRE(st.Step());
  return st.Int(0);
}

// The attempt archive, where defenderctl moves the module's journal.
std::unique_ptr<SqliteDb> OpenDb(const Sandbox& box) {
  std::string err;
  std::unique_ptr<SqliteDb> db =
      SqliteDb::Open(box.dir() + "/state/" + kArchiveName, 5000, &err);
  REQUIRE_MESSAGE(db != nullptr, err);
  return db;
}

TEST_CASE("cleanup: deletes rows older than expiration_hours, prints count") {
  Sandbox box("[attempts]\nexpiration_hours = 2\n");
  {
    auto db = OpenDb(box);
    // One row per minute over the 5 hours before kT0.
    AddRows(db.get(), 300, kT0 - 300 * 60, 60);
  }
  RunResult r = box.Ctl({"cleanup", "--dry-run"});
  CHECK(r.status == 0);
  // Rows before kT0 - 2h: minutes 0..179 of 300.
  CHECK(r.out ==
        "would delete 180 attempt row(s) older than 2h 0m (before 2027-01-15 "
        "06:00:00)\n");
  auto db = OpenDb(box);
  CHECK(CountRows(db.get(), "") == 300);
  r = box.Ctl({"cleanup"});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "deleted 180 attempt row(s) older than 2h 0m (before 2027-01-15 "
        "06:00:00)\nremoved 0 expired store record(s)\n");
  CHECK(CountRows(db.get(), "") == 120);
  CHECK(CountRows(db.get(), "WHERE time < 1799992800") == 0);
  r = box.Ctl({"--json", "cleanup", "--older-than", "30m"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  CHECK(j["dry_run"] == false);
  CHECK(j["older_than_seconds"] == 1800);
  CHECK(j["before"] == "2027-01-15T07:30:00Z");
  CHECK(j["attempts"] == 90);
  CHECK(j["store_records"] == 0);
  CHECK(CountRows(db.get(), "") == 30);
}

TEST_CASE("cleanup: removes expired store records, keeps live ones") {
  Sandbox box;
  box.AddUser("alice", "a");
  CHECK(box.Login("alice", "x", "10.0.0.1") != 0);  // Counters live 300 s.
  box.SetNow(kT0 + 100);
  REQUIRE(box.Ctl({"block", "--user", "bob", "--for", "1h"}).status == 0);
  box.SetNow(kT0 + 400);
  Json j = ParseJson(box.Ctl({"--json", "cleanup", "--dry-run"}).out);
  CHECK(j["dry_run"] == true);
  CHECK(j["attempts"] == 0);
  CHECK(j["store_records"].is_null());
  j = ParseJson(box.Ctl({"--json", "cleanup"}).out);
  CHECK(j["store_records"] == 2);  // alice's and 10.0.0.1's counters.
  j = ParseJson(box.Ctl({"--json", "list"}).out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["subject"] == "bob");
}

// The archive and the store are pruned at once, on two threads: both
// halves' work is done and counted in the one run.
TEST_CASE("cleanup: prunes the archive and the store in one run") {
  Sandbox box("[attempts]\nexpiration_hours = 2\n");
  box.AddUser("alice", "a");
  CHECK(box.Login("alice", "x", "10.0.0.1") != 0);  // Counters live 300 s.
  {
    auto db = OpenDb(box);
    AddRows(db.get(), 300, kT0 - 300 * 60, 60);  // One per minute over 5 h.
  }
  box.SetNow(kT0 + 400);
  const RunResult r = box.Ctl({"--json", "cleanup"});
  CHECK(r.status == 0);
  CHECK(r.err == "");
  const Json j = ParseJson(r.out);
  CHECK(j["attempts"] == 187);     // Before kT0 + 400 s - 2 h: minutes 0..186.
  CHECK(j["store_records"] == 2);  // alice's and 10.0.0.1's counters.
  CHECK(j["journal_records"] == 1);  // The failed login above.
  CHECK(ParseJson(box.Ctl({"--json", "list", "--all"}).out).size() == 0);
  auto db = OpenDb(box);
  CHECK(CountRows(db.get(), "") == 300 + 1 - 187);
}

// An attempt archive that cannot be opened (damaged, the disk full) fails
// the command, but the store is still pruned: the record files of every
// name and host tried must expire whatever happens to the archive.
TEST_CASE("cleanup: a damaged archive still leaves the store pruned") {
  Sandbox box;
  box.AddUser("alice", "a");
  CHECK(box.Login("alice", "x", "10.0.0.1") != 0);  // Counters live 300 s.
  REQUIRE(box.Ctl({"attempts"}).status == 0);       // The archive exists.
  const std::string archive = box.dir() + "/state/" + kArchiveName;
  {
    // 8 KB that are not a SQLite database.
    const std::string junk(8192, '\xab');
    FILE* f = fopen(archive.c_str(), "w");
    REQUIRE(f != nullptr);
    REQUIRE(fwrite(junk.data(), 1, junk.size(), f) == junk.size());
    fclose(f);
    // Its write-ahead log would still hold the real first page.
    std::filesystem::remove(archive + "-wal");
    std::filesystem::remove(archive + "-shm");
  }
  box.SetNow(kT0 + 400);
  const RunResult r = box.Ctl({"cleanup"});
  CHECK(r.status == 3);
  CHECK(r.out == "");
  CHECK(r.err.find(archive) != std::string::npos);
  // alice's and 10.0.0.1's expired counters are gone all the same.
  CHECK(ParseJson(box.Ctl({"--json", "list", "--all"}).out).size() == 0);
  CHECK(std::filesystem::is_empty(box.dir() + "/state/subjects"));
}

TEST_CASE("cleanup: bad --older-than is a usage error") {
  Sandbox box;
  const RunResult r = box.Ctl({"cleanup", "--older-than", "1w"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
}

// A duration longer than the time since the epoch means the epoch: the
// output shows a date, not a negative number of seconds.
TEST_CASE("cleanup: --older-than beyond the epoch means the epoch") {
  Sandbox box;
  {
    auto db = OpenDb(box);
    AddRows(db.get(), 3, kT0 - 300, 60);
  }
  const RunResult r = box.Ctl({"--json", "cleanup", "--older-than",
                               "9223372036854775807", "--dry-run"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  CHECK(j["before"] == "1970-01-01T00:00:00Z");
  CHECK(j["older_than_seconds"] == kT0);
  CHECK(j["attempts"] == 0);
}

// Issue 10 finding 4: refused attempts are rows too, so an attacker could
// grow the attempt log without limit. attempts.max_rows bounds it: cleanup
// deletes the whole backlog beyond it, each logged attempt a few rows.
TEST_CASE("cleanup: trims the attempt log to attempts.max_rows") {
  Sandbox box("[attempts]\nmax_rows = 100\n");
  {
    auto db = OpenDb(box);
    AddRows(db.get(), 1000, kT0 - 1000, 1);  // All within the 24 h.
  }
  Json j = ParseJson(box.Ctl({"--json", "cleanup", "--dry-run"}).out);
  CHECK(j["attempts"] == 0);
  CHECK(j["attempts_over_max_rows"] == 900);
  const RunResult r = box.Ctl({"cleanup"});
  CHECK(r.status == 0);
  CHECK(r.out.find("\ndeleted 900 attempt row(s) beyond attempts.max_rows = "
                   "100\nremoved 0 expired store record(s)\n") !=
        std::string::npos);
  auto db = OpenDb(box);
  CHECK(CountRows(db.get(), "") == 100);
  CHECK(CountRows(db.get(), "WHERE id > 900") == 100);  // The newest.
  CHECK(ParseJson(
            box.Ctl({"--json", "cleanup"}).out)["attempts_over_max_rows"] == 0);

  // A login's attempt goes to the journal, not the archive; cleanup moves
  // it in (and says so) and trims the archive back to max_rows.
  AddRows(db.get(), 10, kT0, 1);  // Ids 1001-1010: 110 rows.
  box.AddUser("alice", "a");
  CHECK(box.Login("alice", "x", "10.0.0.1") != 0);
  CHECK(CountRows(db.get(), "") == 110);
  CHECK(Exists(box.dir() + "/state/attempts.journal"));
  const RunResult moved = box.Ctl({"cleanup"});
  CHECK(moved.status == 0);
  CHECK(moved.out.find(" expired store record(s)\nmoved 1 attempt record(s) "
                       "from the journal into the archive\n") !=
        std::string::npos);
  CHECK(moved.out.find("\ndeleted 11 attempt row(s) beyond "
                       "attempts.max_rows = 100\n") != std::string::npos);
  CHECK(CountRows(db.get(), "") == 100);
  CHECK(CountRows(db.get(), "WHERE id <= 911") == 0);
  CHECK(CountRows(db.get(), "WHERE id = 1011 AND user = 'alice'") == 1);
  CHECK_FALSE(Exists(box.dir() + "/state/attempts.journal"));

  // --dry-run moves the journal too, but deletes nothing: the rows beyond
  // max_rows, the moved one's included, are counted as would-be (text and
  // JSON alike).
  AddRows(db.get(), 10, kT0, 1);  // Ids 1012-1021: 110 rows.
  CHECK(box.Login("alice", "x", "10.0.0.1") != 0);
  const RunResult dry = box.Ctl({"cleanup", "--dry-run"});
  CHECK(dry.status == 0);
  CHECK(dry.out ==
        "would delete 0 attempt row(s) older than 1d 0h (before 2027-01-14 "
        "08:00:00)\nwould delete 11 attempt row(s) beyond attempts.max_rows "
        "= 100\nmoved 1 attempt record(s) from the journal into the "
        "archive\n");
  CHECK(CountRows(db.get(), "") == 111);
  CHECK(CountRows(db.get(), "WHERE id = 1022 AND user = 'alice'") == 1);
  const Json dry_json =
      ParseJson(box.Ctl({"--json", "cleanup", "--dry-run"}).out);
  CHECK(dry_json["attempts_over_max_rows"] == 11);
  CHECK(CountRows(db.get(), "") == 111);
}

TEST_CASE("cleanup of 1,000,000 rows" * doctest::test_suite("million")) {
  Sandbox box("[attempts]\nexpiration_hours = 24\n");
  constexpr int64_t kRows = 1'000'000;
  // Half the rows older than 24 h (one per second before the cut), half
  // within the last 24 h (several per second).
  const int64_t cut = kT0 - 86400;
  {
    auto db = OpenDb(box);
    const auto t0 = std::chrono::steady_clock::now();
    AddRows(db.get(), kRows / 2, cut - kRows / 2, 1);  // Older: deleted.
    AddRows(db.get(), kRows / 2, cut, 1, 86400);       // Newer: kept.
    const auto t1 = std::chrono::steady_clock::now();
    std::printf("inserted %lld rows in %.2f s\n", static_cast<long long>(kRows),
                std::chrono::duration<double>(t1 - t0).count());
    REQUIRE(CountRows(db.get(), "") == kRows);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const RunResult r = box.Ctl({"--json", "cleanup"});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("defenderctl cleanup deleted 500000 of 1000000 rows in %.2f s\n",
              seconds);
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  CHECK(j["attempts"] == kRows / 2);
  auto db = OpenDb(box);
  CHECK(CountRows(db.get(), "") == kRows / 2);
  CHECK(CountRows(db.get(), ("WHERE time < " + std::to_string(cut)).c_str()) ==
        0);
  CHECK(CountRows(db.get(), ("WHERE time >= " + std::to_string(cut)).c_str()) ==
        kRows / 2);
  // The DELETE uses the index on time.
  SqliteDb::Statement plan(
      db.get(), "EXPLAIN QUERY PLAN DELETE FROM attempts WHERE time < 1");
  std::string detail;
  while (plan.Step()) detail += plan.Text(3) + "\n";
  CHECK_MESSAGE(detail.find("attempts_time") != std::string::npos, detail);
  CHECK(seconds < 60);
}

TEST_SUITE("root") {
  // No second thread to be had (RLIMIT_NPROC reached: defenderctl run by
  // the user who owns the store, limited to one process): cleanup prunes
  // the archive and then the store on the one thread it has.
  TEST_CASE("cleanup: with no thread to be had, prunes one after the other") {
    Sandbox box;
    const std::string own = box.dir() + "/nobody";
    REQUIRE(mkdir(own.c_str(), 0700) == 0);
    REQUIRE(chown(own.c_str(), 65534, 65534) == 0);
    box.WriteConfig("[store]\ndir = \"" + own + "/state\"\n");
    const auto as_nobody = [&](const std::vector<std::string>& args) {
      std::vector<std::string> argv = {"/usr/bin/setpriv",
                                       "--reuid=65534",
                                       "--regid=65534",
                                       "--clear-groups",
                                       "/usr/bin/prlimit",
                                       "--nproc=1",
                                       EnvPath("DEFENDERCTL_TESTCLOCK"),
                                       "-c",
                                       box.config()};
      argv.insert(argv.end(), args.begin(), args.end());
      // LeakSanitizer (ASan builds) needs a thread of its own at exit.
      if (const char* asan = getenv("ASAN_OPTIONS")) {
        argv.insert(argv.begin(),
                    {"/usr/bin/env",
                     "ASAN_OPTIONS=" + std::string(asan) + ":detect_leaks=0"});
      }
      return box.Exec(argv);
    };
    RunResult r = as_nobody({"block", "--user", "bob", "--for", "1m"});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    box.SetNow(kT0 + 2 * 86400);  // The block and its history expired.
    r = as_nobody({"cleanup"});
    CHECK(r.status == 0);
    CHECK(r.err == "");
    CHECK(r.out ==
          "deleted 0 attempt row(s) older than 1d 0h (before 2027-01-16 "
          "08:00:00)\nremoved 2 expired store record(s)\n");
    CHECK(std::filesystem::is_empty(own + "/state/subjects"));
  }
}

}  // namespace
}  // namespace defender::testing
