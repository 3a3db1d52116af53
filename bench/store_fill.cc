#include "bench/store_fill.h"

#include <sys/resource.h>
#include <time.h>

#include <memory>
#include <vector>

#include "common/archive.h"
#include "common/backend.h"
#include "common/journal.h"
#include "common/sqlite_db.h"
#include "common/sqlite_store.h"

namespace bench {
namespace {

double NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 +
         static_cast<double>(ts.tv_nsec) / 1e6;
}

double CpuMs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

}  // namespace

bool FillStore(const std::string& path, int64_t subjects, int64_t attempts,
               int64_t now, std::string* err) {
  std::unique_ptr<defender::SqliteDb> db =
      defender::SqliteDb::Open(path, defender::kSqliteBusyTimeoutMs, err);
  if (!db) return false;
  defender::SqliteDb::Transaction txn(db.get());
  if (!txn.ok()) {
    *err = db->Error("cannot lock");
    return false;
  }
  const std::string n = std::to_string(subjects);
  const std::string t = std::to_string(now);
  // Users "user000001"...; hosts 10.a.b.c; failures 1-2 with an hour to
  // live; every 100th subject blocked for a day.
  const std::string fill_subjects =
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
      "WHERE i < " +
      n +
      ") "
      "INSERT INTO subjects(kind, subject, failures, blocked, expires) "
      "SELECT CASE WHEN i % 2 THEN 'user' ELSE 'host' END, "
      "CASE WHEN i % 2 THEN printf('user%07d', i) ELSE "
      "printf('10.%d.%d.%d', i / 65536 % 256, i / 256 % 256, i % 256) END, "
      "CASE WHEN i % 100 = 0 THEN 4 ELSE 1 + i % 2 END, "
      "i % 100 = 0, " +
      t +
      " + CASE WHEN i % 100 = 0 THEN 86400 ELSE 3600 "
      "END FROM c;"
      "INSERT INTO blocks(kind, subject, time, until) "
      "SELECT kind, subject, " +
      t +
      " - 60, expires FROM subjects "
      "WHERE blocked = 1;";
  // Attempts spread over the day that ended 25 hours ago.
  const std::string fill_attempts =
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
      "WHERE i < " +
      std::to_string(attempts) +
      ") "
      "INSERT INTO attempts(time, service, user, host, tty, result) "
      "SELECT " +
      t +
      " - 90000 - i % 86400, 'sshd', "
      "printf('user%07d', i % " +
      n +
      "), "
      "printf('10.%d.%d.%d', i / 65536 % 256, i / 256 % 256, i % 256), "
      "'ssh', CASE WHEN i % 4 = 0 THEN 'success' ELSE 'failure' END FROM c;";
  if (!db->Exec(fill_subjects.c_str(), err) || !txn.Commit(err)) return false;
  // The attempt rows go to the archive beside the store (archive.h).
  std::unique_ptr<defender::AttemptArchive> archive =
      defender::AttemptArchive::Open(defender::ParentDir(path), 0, err);
  if (!archive) return false;
  defender::SqliteDb::Transaction archive_txn(archive->db());
  if (!archive_txn.ok()) {
    *err = archive->db()->Error("cannot lock");
    return false;
  }
  return archive->db()->Exec(fill_attempts.c_str(), err) &&
         archive_txn.Commit(err);
}

bool TimeStoreOps(const std::string& path, int64_t now, StoreOpTimes* out,
                  std::string* err) {
  std::unique_ptr<defender::SqliteDb> db =
      defender::SqliteDb::Open(path, defender::kSqliteBusyTimeoutMs, err);
  if (!db) return false;
  defender::SqliteStore store(db.get());
  std::unique_ptr<defender::AttemptArchive> archive =
      defender::AttemptArchive::Open(defender::ParentDir(path), 0, err);
  if (!archive) return false;
  std::vector<defender::StoreEntry> entries;

  double t0 = NowMs();
  if (!store.List(now, false, &entries, err)) return false;
  out->list_ms = NowMs() - t0;
  out->listed = static_cast<int64_t>(entries.size());

  t0 = NowMs();
  if (!store.List(now, true, &entries, err)) return false;
  out->list_blocked_ms = NowMs() - t0;
  out->listed_blocked = static_cast<int64_t>(entries.size());

  t0 = NowMs();
  const double c0 = CpuMs();
  if (!archive->log()->Prune(now - 24 * 3600, false, &out->cleaned, err)) {
    return false;
  }
  archive.reset();  // The close checkpoints the WAL: part of the cleanup.
  out->cleanup_ms = NowMs() - t0;
  out->cleanup_cpu_ms = CpuMs() - c0;
  db = defender::SqliteDb::Open(path, defender::kSqliteBusyTimeoutMs, err);
  if (!db) return false;
  defender::SqliteStore store2(db.get());

  t0 = NowMs();
  if (!store2.Prune(now, 24 * 3600, &out->store_pruned, err)) return false;
  out->store_prune_ms = NowMs() - t0;
  return true;
}

}  // namespace bench
