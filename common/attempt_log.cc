#include "common/attempt_log.h"

#include <functional>

namespace defender {

bool SqliteAttemptLog::Append(const Attempt& a, std::string* err) {
  SqliteDb::Statement st(db_,
                         "INSERT INTO attempts(time, service, user, host, "
                         "tty, result) VALUES (?,?,?,?,?,?)");
  st.Bind(1, a.time);
  st.Bind(2, a.service);
  st.Bind(3, a.user);
  st.Bind(4, a.host);
  st.Bind(5, a.tty);
  st.Bind(6, a.result);
  st.Step();
  if (st.error()) {
    *err = db_->Error("cannot log the attempt");
    return false;
  }
  return true;
}

bool SqliteAttemptLog::Query(const AttemptFilter& f, std::vector<Attempt>* out,
                             std::string* err) {
  out->clear();
  return Scan(
      f,
      [out](const Attempt& a) {
        out->push_back(a);
        return true;
      },
      err);
}

bool SqliteAttemptLog::Scan(const AttemptFilter& f,
                            const std::function<bool(const Attempt&)>& each,
                            std::string* err) {
  SqliteDb::Statement st(
      db_,
      "SELECT time, service, user, host, tty, result FROM attempts "
      "WHERE time >= ?1 AND (?2 IS NULL OR user = ?2) "
      "AND (?3 IS NULL OR host = ?3) AND (?4 IS NULL OR result = ?4) "
      "ORDER BY time DESC, id DESC LIMIT ?5");
  st.Bind(1, f.since);
  if (f.user) st.Bind(2, *f.user);
  if (f.host) st.Bind(3, *f.host);
  if (f.result) st.Bind(4, *f.result);
  st.Bind(5, f.limit > 0 ? f.limit : int64_t{-1});
  while (st.Step()) {
    if (!each(Attempt{st.Int(0), st.Text(1), st.Text(2), st.Text(3), st.Text(4),
                      st.Text(5)})) {
      return true;
    }
  }
  if (st.error()) *err = db_->Error("cannot read the attempt log");
  return !st.error();
}

bool SqliteAttemptLog::Count(int64_t since, AttemptCounts* out,
                             std::string* err) {
  SqliteDb::Statement st(db_,
                         "SELECT result, count(*) FROM attempts "
                         "WHERE time >= ?1 GROUP BY result");
  st.Bind(1, since);
  *out = AttemptCounts{};
  while (st.Step()) {
    const std::string result = st.Text(0);
    if (result == "failure") out->failure = st.Int(1);
    if (result == "success") out->success = st.Int(1);
    if (result == "refused") out->refused = st.Int(1);
  }
  if (st.error()) *err = db_->Error("cannot read the attempt log");
  return !st.error();
}

namespace {

// One count(*) for a dry run.
bool CountRows(SqliteDb* db, const char* sql,
               const std::function<void(SqliteDb::Statement*)>& bind,
               int64_t* count, std::string* err) {
  SqliteDb::Statement st(db, sql);
  bind(&st);
  if (!st.Step()) {
    *err = db->Error("cannot read the attempt log");
    return false;
  }
  *count = st.Int(0);
  return true;
}

// Runs the DELETE `st` (bound): *n rows deleted.
bool StepDelete(SqliteDb* db, SqliteDb::Statement* st, int64_t* n) {
  st->Step();
  *n = db->Changes();
  return st->ok() && !st->error();
}

}  // namespace

bool SqliteAttemptLog::Prune(int64_t before, bool dry_run, int64_t* count,
                             std::string* err) {
  const auto bind = [&](SqliteDb::Statement* st) { st->Bind(2, before); };
  if (dry_run) {
    return CountRows(db_, "SELECT count(*) FROM attempts WHERE time < ?2", bind,
                     count, err);
  }
  // The oldest rows first: each batch deletes the rows older than the
  // (limit + 1)th oldest, found on the time index, as one range, whose ids
  // SQLite collects from the index in one pass (deleting a list of ids
  // chosen by a subquery took half as long again: bench/README.md). When
  // those limit + 1 rows share one time, the oldest limit rows (all of that
  // time) go by id instead. The bound is bound as read, type and all: a
  // time that is not an integer (only a hand-edited archive has one) is
  // compared as it is.
  return db_->DeleteInBatches(
      [&](int64_t limit, int64_t* n, bool* more) {
        SqliteDb::Statement bound(db_,
                                  "SELECT time FROM attempts WHERE time < ?1 "
                                  "ORDER BY time LIMIT 1 OFFSET ?2");
        bound.Bind(1, before);
        bound.Bind(2, limit);
        *more = bound.Step();
        if (!bound.ok() || bound.error()) return false;
        SqliteDb::Statement range(db_, "DELETE FROM attempts WHERE time < ?1");
        if (*more) {
          range.BindColumn(1, bound, 0);
        } else {
          range.Bind(1, before);
        }
        bound.Reset();
        if (!StepDelete(db_, &range, n)) return false;
        if (*n > 0 || !*more) return true;
        SqliteDb::Statement oldest(db_,
                                   "DELETE FROM attempts WHERE id IN (SELECT "
                                   "id FROM attempts WHERE time < ?1 ORDER BY "
                                   "time LIMIT ?2)");
        oldest.Bind(1, before);
        oldest.Bind(2, limit);
        return StepDelete(db_, &oldest, n);
      },
      count, err);
}

bool SqliteAttemptLog::Trim(int64_t since, bool dry_run, int64_t* count,
                            std::string* err) {
  *count = 0;
  if (max_rows_ == 0) return true;
  const auto bind = [&](SqliteDb::Statement* st) {
    st->Bind(2, max_rows_);
    st->Bind(3, since);
  };
  if (dry_run) {
    return CountRows(db_,
                     "SELECT count(*) FROM attempts WHERE id <= (SELECT "
                     "max(id) FROM attempts) - ?2 AND time >= ?3",
                     bind, count, err);
  }
  return db_->DeleteInBatches(
      [&](int64_t limit, int64_t* n, bool* more) {
        SqliteDb::Statement st(
            db_,
            "DELETE FROM attempts WHERE id IN (SELECT id FROM attempts WHERE "
            "id <= (SELECT max(id) FROM attempts) - ?2 AND time >= ?3 ORDER "
            "BY id LIMIT ?1)");
        st.Bind(1, limit);
        bind(&st);
        const bool ok = StepDelete(db_, &st, n);
        *more = *n == limit;
        return ok;
      },
      count, err);
}

}  // namespace defender
