// The attempt archive (doc/DESIGN.md §3.10, §9): <dir>/attempts.db, the
// SQLite database defenderctl queries, filled from the journal the module
// appends to (journal.h). Only defenderctl opens it; a login never does.
#ifndef PAM_DEFENDER_COMMON_ARCHIVE_H_
#define PAM_DEFENDER_COMMON_ARCHIVE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/attempt_log.h"
#include "common/sqlite_db.h"

namespace defender {

// The archive's file name in the state directory.
inline constexpr char kArchiveName[] = "attempts.db";

struct IngestResult {
  int64_t files = 0;          // Journal files moved in.
  int64_t records = 0;        // Records inserted.
  int64_t dropped = 0;        // Records left out: beyond max_rows already.
  int64_t skipped_bytes = 0;  // Damaged bytes skipped (journal_record.h).
  // Journal files still locked (a login stopped or frozen in its append,
  // past kIngestLockWaitMs for the file this ingest claimed; another
  // ingest): left, claimed, for a later ingest.
  int64_t busy = 0;
};

// How long an ingest waits for the appends under way to a journal file it
// has claimed. An append holds the lock for microseconds, but its process
// may be stopped or frozen inside it: the file is then left for later
// rather than hanging `defenderctl` (list, attempts, stats, cleanup). Files
// claimed by earlier ingests are only tried: each command waits once.
inline constexpr int kIngestLockWaitMs = 1000;

class AttemptArchive {
 public:
  // Opens (creating) <dir>/attempts.db with SqliteDb::Open's trust checks.
  // `max_rows` bounds the archive as SqliteAttemptLog's does. nullptr with
  // *err set on failure.
  static std::unique_ptr<AttemptArchive> Open(const std::string& dir,
                                              int64_t max_rows,
                                              std::string* err);

  // Moves the journal into the archive: renames <dir>/attempts.journal to
  // attempts.journal.<time>-<random> (new appends go to a new journal),
  // takes LOCK_EX on it (waiting for appends under way), inserts its
  // records in one transaction with a row in `ingested` naming the file,
  // unlinks it, then, with `trim`, trims the archive to max_rows
  // (SqliteAttemptLog::Trim; without, the caller does). Renamed files left by
  // an ingest that crashed are finished first, oldest first; a file
  // already committed (its `ingested` row exists) is only unlinked, so a
  // crash at any point loses and duplicates nothing. Concurrent ingests
  // are safe: each file is ingested under its lock, once. When a file holds
  // more than max_rows records only its newest max_rows are inserted.
  bool Ingest(bool trim, IngestResult* out, std::string* err);

  SqliteAttemptLog* log() { return &log_; }
  SqliteDb* db() { return db_.get(); }

 private:
  AttemptArchive(std::string dir, std::unique_ptr<SqliteDb> db,
                 int64_t max_rows);
  // Ingests the renamed journal `name`, adding to *out, waiting at most
  // `wait_ms` for its lock.
  bool IngestFile(int dir_fd, const std::string& name, int wait_ms,
                  IngestResult* out, std::string* err);

  std::string dir_;
  std::unique_ptr<SqliteDb> db_;
  int64_t max_rows_;
  SqliteAttemptLog log_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_ARCHIVE_H_
