#include "common/attempt_log.h"

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
  if (st.error()) *err = db_->Error("cannot log the attempt");
  return !st.error();
}

bool SqliteAttemptLog::Query(const AttemptFilter& f, std::vector<Attempt>* out,
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
  out->clear();
  while (st.Step()) {
    out->push_back(Attempt{st.Int(0), st.Text(1), st.Text(2), st.Text(3),
                           st.Text(4), st.Text(5)});
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

bool SqliteAttemptLog::Prune(int64_t before, bool dry_run, int64_t* count,
                             std::string* err) {
  SqliteDb::Statement st(db_, dry_run ? "SELECT count(*) FROM attempts "
                                        "WHERE time < ?1"
                                      : "DELETE FROM attempts WHERE time < ?1");
  st.Bind(1, before);
  const bool row = st.Step();
  if (st.error()) {
    *err = db_->Error("cannot prune the attempt log");
    return false;
  }
  *count = dry_run ? (row ? st.Int(0) : 0) : sqlite3_changes64(db_->handle());
  return true;
}

}  // namespace defender
