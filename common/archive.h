// The attempt archive (doc/DESIGN.md §3.10, §9): <dir>/attempts.db, the
// SQLite database defenderctl queries, filled from the journal the module
// appends to (journal.h). Only defenderctl opens it; a login never does.
#ifndef PAM_DEFENDER_COMMON_ARCHIVE_H_
#define PAM_DEFENDER_COMMON_ARCHIVE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/attempt_log.h"
#include "common/sqlite_db.h"

namespace defender {

// The archive's file name in the state directory.
inline constexpr char kArchiveName[] = "attempts.db";

// A claimed journal file that failed the checks (not a regular file, e.g.
// a symlink, FIFO, device or directory; not owned by the effective uid;
// writable by group or others; not openable): renamed, not ingested.
struct SetAsideFile {
  std::string path;      // <dir>/attempts.journal.<suffix>
  std::string moved_to;  // <path>.bad; empty when the rename failed.
  std::string reason;    // What is wrong (names `path`); and why the rename
                         // failed when it did.
};

struct IngestResult {
  int64_t files = 0;          // Journal files moved in.
  int64_t records = 0;        // Records inserted.
  int64_t dropped = 0;        // Records left out: beyond max_rows already.
  int64_t trimmed = 0;        // Archive rows deleted beyond max_rows.
  int64_t skipped_bytes = 0;  // Damaged bytes skipped (journal_record.h).
  // Journal files still held by appends (a login stopped or frozen in its
  // append, past kIngestLockWaitMs for the file this ingest claimed): left,
  // claimed, for a later ingest. A file another ingest holds (LOCK_EX) is
  // not counted: that ingest finishes it.
  int64_t busy = 0;
  // Claimed files that failed the checks, set aside (SetAsideFile).
  std::vector<SetAsideFile> set_aside;
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
  // unlinks it, then, when any record was inserted, trims the archive to
  // max_rows (SqliteAttemptLog::Trim, counted in out->trimmed). Renamed
  // files left by an ingest that crashed are finished first, oldest first;
  // a file already committed (its `ingested` row exists) is only unlinked,
  // so a crash at any point loses and duplicates nothing. Concurrent
  // ingests are safe: each file is ingested under its lock, once. When a
  // file holds more than max_rows records only its newest max_rows are
  // inserted.
  //
  // A claimed file that is not a regular file, fails the trust check
  // (trusted_file.h) or cannot be opened is set aside: renamed (the name,
  // never what a symlink leads to) to <name>.bad, which no ingest claims,
  // never opened unless it is a regular file, and listed in
  // out->set_aside; the others are ingested all the same. False with *err
  // set only when the directory, the archive or a file's read fails.
  // Without `trim` the archive is not trimmed (a dry run deletes nothing).
  bool Ingest(IngestResult* out, std::string* err, bool trim = true);

  SqliteAttemptLog* log() { return &log_; }
  SqliteDb* db() { return db_.get(); }

 private:
  AttemptArchive(std::string dir, std::unique_ptr<SqliteDb> db,
                 int64_t max_rows);
  // Ingests the renamed journal `name`, adding to *out, waiting at most
  // `wait_ms` for its lock; sets it aside when it fails the checks.
  bool IngestFile(int dir_fd, const std::string& name, int wait_ms,
                  IngestResult* out, std::string* err);
  // Renames the claimed file `name` to <name>.bad and notes it in *out.
  void SetAside(int dir_fd, const std::string& name, std::string reason,
                IngestResult* out);

  std::string dir_;
  std::unique_ptr<SqliteDb> db_;
  int64_t max_rows_;
  SqliteAttemptLog log_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_ARCHIVE_H_
