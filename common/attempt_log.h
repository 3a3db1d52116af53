// The attempt log: one row per login attempt (doc/DESIGN.md §3.10). The
// module appends to the journal (journal.h); defenderctl reads and prunes
// the SQLite archive (archive.h) through SqliteAttemptLog.
#ifndef PAM_DEFENDER_COMMON_ATTEMPT_LOG_H_
#define PAM_DEFENDER_COMMON_ATTEMPT_LOG_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/sqlite_db.h"

namespace defender {

struct Attempt {
  int64_t time = 0;
  std::string service;
  std::string user;  // Normalised; empty when there was none.
  std::string host;  // Normalised; empty for a local login.
  std::string tty;
  std::string result;  // "failure", "success" or "refused".
};

struct AttemptFilter {
  std::optional<std::string> user;
  std::optional<std::string> host;
  std::optional<std::string> result;
  int64_t since = 0;  // Rows with time >= since.
  int64_t limit = 0;  // 0 = no limit.
};

struct AttemptCounts {
  int64_t failure = 0;
  int64_t success = 0;
  int64_t refused = 0;
};

class AttemptLog {
 public:
  virtual ~AttemptLog() = default;
  // Appends one row. Returns false with *err set on failure.
  virtual bool Append(const Attempt& a, std::string* err) = 0;
};

// The attempt log in the SqliteDb's `attempts` table, bounded to the
// newest `max_rows` rows (attempts.max_rows; 0 = unbounded) by row id:
// the rows with id <= (newest id) - max_rows are beyond the bound (ids
// only grow, so at most max_rows rows are kept, fewer where older rows
// were already pruned). Trim enforces the bound: the archive's ingest runs
// it after each batch it inserts.
class SqliteAttemptLog final : public AttemptLog {
 public:
  explicit SqliteAttemptLog(SqliteDb* db, int64_t max_rows = 0)
      : db_(db), max_rows_(max_rows) {}
  // Appends one row (no trimming: see Trim).
  bool Append(const Attempt& a, std::string* err) override;
  // Rows matching `filter`, newest first.
  bool Query(const AttemptFilter& filter, std::vector<Attempt>* out,
             std::string* err);
  // The same rows one at a time, newest first, to `each`, which returns
  // false to stop: memory stays that of one row however many match.
  bool Scan(const AttemptFilter& filter,
            const std::function<bool(const Attempt&)>& each, std::string* err);
  // Counts of rows with time >= since, by result.
  bool Count(int64_t since, AttemptCounts* out, std::string* err);
  // Deletes (or with `dry_run` only counts) rows with time < before, in
  // short batches (SqliteDb::DeleteInBatches) that never keep logins
  // waiting for long; *count is the number of rows.
  bool Prune(int64_t before, bool dry_run, int64_t* count, std::string* err);
  // Deletes (or counts) all rows beyond max_rows, likewise in batches.
  // Rows with time < since are left out (Prune's; a dry run does not count
  // them twice). *count is 0 when max_rows is 0.
  bool Trim(int64_t since, bool dry_run, int64_t* count, std::string* err);

 private:
  SqliteDb* db_;
  int64_t max_rows_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_ATTEMPT_LOG_H_
