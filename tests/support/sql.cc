#include "tests/support/sql.h"

namespace defender::testing {

bool SqlRows(const std::string& db, const std::string& sql,
             const std::function<void(sqlite3_stmt*)>& row, int busy_timeout_ms,
             bool read_only) {
  sqlite3* h = nullptr;
  const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (sqlite3_open_v2(db.c_str(), &h, flags, nullptr) != SQLITE_OK) {
    sqlite3_close(h);
    return false;
  }
  sqlite3_busy_timeout(h, busy_timeout_ms);
  sqlite3_stmt* st = nullptr;
  bool ok = sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) == SQLITE_OK;
  int rc = SQLITE_DONE;
  while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
  ok = ok && rc == SQLITE_DONE;
  sqlite3_finalize(st);
  sqlite3_close(h);
  return ok;
}

std::string SqlText(sqlite3_stmt* st, int i, const std::string& null_text) {
  const auto* t = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
  return t ? std::string(t, static_cast<size_t>(sqlite3_column_bytes(st, i)))
           : null_text;
}

}  // namespace defender::testing
