// Reading and setting up a SQLite store from the tests with plain SQL,
// beside the module (which may hold the same database open).
#ifndef DEFENDER_TESTS_SUPPORT_SQL_H_
#define DEFENDER_TESTS_SUPPORT_SQL_H_

#include <sqlite3.h>

#include <functional>
#include <string>

namespace defender::testing {

// Opens the existing database `db` (read-only when `read_only`), waits up
// to `busy_timeout_ms` for locks, runs the one statement `sql` and calls
// `row` for each result row. False when the database cannot be opened or
// the statement fails.
bool SqlRows(const std::string& db, const std::string& sql,
             const std::function<void(sqlite3_stmt*)>& row,
             int busy_timeout_ms = 5000, bool read_only = false);

// Column `i` of the current row as text (embedded NULs kept); `null_text`
// for SQL NULL.
std::string SqlText(sqlite3_stmt* st, int i, const std::string& null_text = "");

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_SQL_H_
