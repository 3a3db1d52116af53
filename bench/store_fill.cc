#include "bench/store_fill.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "common/archive.h"
#include "common/backend.h"
#include "common/journal.h"
#include "common/local_store.h"
#include "common/sqlite_db.h"
#include "common/subject_record.h"

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

// The directory of the file at `path` (the store's dir).
std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

bool FillStore(const std::string& path, int64_t subjects, int64_t attempts,
               int64_t now, std::string* err) {
  // Users "user000001"...; hosts 10.a.b.c; failures 1-2 with an hour to
  // live; every 100th subject blocked for a day, with its block a minute
  // ago in its history. Written as record files directly.
  const std::string dir = DirOf(path);
  if (!defender::LocalStore::Open(dir, defender::kLocalLockTimeoutMs, err)) {
    return false;
  }
  for (int64_t i = 1; i <= subjects; ++i) {
    defender::SubjectRecord r;
    char name[32];
    if (i % 2) {
      r.kind = defender::SubjectKind::kUser;
      snprintf(name, sizeof name, "user%07lld", static_cast<long long>(i));
    } else {
      r.kind = defender::SubjectKind::kHost;
      snprintf(name, sizeof name, "10.%lld.%lld.%lld",
               static_cast<long long>(i / 65536 % 256),
               static_cast<long long>(i / 256 % 256),
               static_cast<long long>(i % 256));
    }
    r.name = name;
    const bool blocked = i % 100 == 0;
    r.state = defender::StoredRecord{blocked ? 4 : 1 + i % 2, blocked,
                                     now + (blocked ? 86400 : 3600)};
    if (blocked) r.history = {now - 60};
    const std::string file =
        dir + "/subjects/" +
        defender::RecordFileName(r.kind, r.name, defender::SipKey{});
    const std::string bytes = defender::EncodeSlot(r, 1);
    const int fd =
        open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const bool ok = fd >= 0 && write(fd, bytes.data(), bytes.size()) ==
                                   static_cast<ssize_t>(bytes.size());
    if (fd >= 0) close(fd);
    if (!ok) {
      *err = file + ": cannot write";
      return false;
    }
  }
  const std::string n = std::to_string(subjects);
  const std::string t = std::to_string(now);
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
  // The attempt rows go to the archive beside the store (archive.h).
  std::unique_ptr<defender::AttemptArchive> archive =
      defender::AttemptArchive::Open(DirOf(path), 0, err);
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
  std::unique_ptr<defender::LocalStore> local = defender::LocalStore::Open(
      DirOf(path), defender::kLocalLockTimeoutMs, err);
  if (!local) return false;
  defender::Store& store = *local;
  std::unique_ptr<defender::AttemptArchive> archive =
      defender::AttemptArchive::Open(DirOf(path), 0, err);
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
  t0 = NowMs();
  if (!store.Prune(now, 24 * 3600, &out->store_pruned, err)) return false;
  out->store_prune_ms = NowMs() - t0;
  return true;
}

}  // namespace bench
