// The local store read back with plain SQL, the way the tests read the
// former SQLite store: the record files become the tables
//   subjects(kind, subject, failures, blocked, expires)  -- one row per
//       record with a counter or block (expired ones too, until pruned)
//   blocks(kind, subject, time)  -- each record's block history
//   remembered(user, host, until)  -- each user's remembered hosts
// of a new in-memory database, beside which the attempt archive is attached
// as `a` with a view `attempts` of its table (after the journal is moved
// into it, as defenderctl does).
#ifndef DEFENDER_TESTS_SUPPORT_STORE_SQL_H_
#define DEFENDER_TESTS_SUPPORT_STORE_SQL_H_

#include <sqlite3.h>

#include <functional>
#include <string>

namespace defender::testing {

// Runs `sql` on the store in `dir` (and its attempts.db, when it exists)
// and calls `row` for each result row. False when the statement fails or a
// record file cannot be read.
bool StoreSqlRows(const std::string& dir, const std::string& sql,
                  const std::function<void(sqlite3_stmt*)>& row);

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_STORE_SQL_H_
