#include "common/sqlite_store.h"

namespace defender {
namespace {

// Expression true for a record that still matters at ?now.
#define LIVE "(expires = 0 OR expires > ?1)"

// Binds `s` to ?1 (kind) and ?2 (subject).
void BindSubject(SqliteDb::Statement* st, const Subject& s) {
  st->Bind(1, KindName(s.kind));
  st->Bind(2, s.name);
}

}  // namespace

bool SqliteStore::Read(const Subject& s, std::optional<StoredRecord>* out,
                       std::string* err) {
  SqliteDb::Statement st(db_,
                         "SELECT failures, blocked, expires FROM subjects "
                         "WHERE kind = ?1 AND subject = ?2");
  BindSubject(&st, s);
  out->reset();
  if (st.Step()) {
    *out = StoredRecord{st.Int(0), st.Int(1) != 0, st.Int(2)};
  } else if (st.error()) {
    *err = db_->Error("read failed");
    return false;
  }
  return true;
}

bool SqliteStore::Write(const Subject& s, const StoredRecord& r,
                        std::string* err) {
  SqliteDb::Statement st(
      db_,
      "INSERT OR REPLACE INTO subjects(kind, subject, failures, blocked, "
      "expires) VALUES (?1, ?2, ?3, ?4, ?5)");
  BindSubject(&st, s);
  st.Bind(3, r.failures);
  st.Bind(4, static_cast<int64_t>(r.blocked));
  st.Bind(5, r.expires);
  st.Step();
  if (st.error()) *err = db_->Error("write failed");
  return !st.error();
}

bool SqliteStore::Erase(const Subject& s, std::string* err) {
  SqliteDb::Statement st(
      db_, "DELETE FROM subjects WHERE kind = ?1 AND subject = ?2");
  BindSubject(&st, s);
  st.Step();
  if (st.error()) *err = db_->Error("delete failed");
  return !st.error();
}

bool SqliteStore::AddHistory(const Subject& s, int64_t now, int64_t until,
                             std::string* err) {
  SqliteDb::Statement st(
      db_, "INSERT INTO blocks(kind, subject, time, until) VALUES (?,?,?,?)");
  BindSubject(&st, s);
  st.Bind(3, now);
  st.Bind(4, until);
  st.Step();
  if (st.error()) *err = db_->Error("write failed");
  return !st.error();
}

bool SqliteStore::CountHistory(const Subject& s, int64_t since, int64_t* count,
                               std::string* err) {
  SqliteDb::Statement st(db_,
                         "SELECT count(*) FROM blocks WHERE kind = ?1 AND "
                         "subject = ?2 AND time > ?3");
  BindSubject(&st, s);
  st.Bind(3, since);
  if (!st.Step()) {
    *err = db_->Error("read failed");
    return false;
  }
  *count = st.Int(0);
  return true;
}

bool SqliteStore::LoadRemembered(const std::string& user, RememberedList* out,
                                 std::string* err) {
  SqliteDb::Statement st(db_,
                         "SELECT host, until FROM remembered WHERE user = ?1");
  st.Bind(1, user);
  out->clear();
  while (st.Step()) out->push_back(RememberedHost{st.Text(0), st.Int(1)});
  if (st.error()) *err = db_->Error("read failed");
  return !st.error();
}

bool SqliteStore::SaveRemembered(const std::string& user,
                                 const RememberedList& list, std::string* err) {
  SqliteDb::Statement del(db_, "DELETE FROM remembered WHERE user = ?1");
  del.Bind(1, user);
  del.Step();
  if (del.error()) {
    *err = db_->Error("delete failed");
    return false;
  }
  for (const RememberedHost& r : list) {
    SqliteDb::Statement st(
        db_, "INSERT INTO remembered(user, host, until) VALUES (?1, ?2, ?3)");
    st.Bind(1, user);
    st.Bind(2, r.host);
    st.Bind(3, r.until);
    st.Step();
    if (st.error()) {
      *err = db_->Error("write failed");
      return false;
    }
  }
  return true;
}

bool SqliteStore::Get(std::span<const Subject> subjects, int64_t now,
                      std::vector<SubjectState>* out, std::string* err) {
  out->clear();
  if (subjects.empty()) return true;
  // One snapshot for all subjects (or the caller's transaction).
  SqliteDb::Transaction txn(db_, /*write=*/false);
  if (!txn.ok()) {
    *err = db_->Error("cannot read");
    return false;
  }
  for (const Subject& s : subjects) {
    std::optional<StoredRecord> r;
    if (!Read(s, &r, err)) return false;
    out->push_back(StateOf(r, now));
  }
  std::string user;
  std::string host;
  if (PairOf(subjects, &user, &host)) {
    RememberedList list;
    if (!LoadRemembered(user, &list, err)) return false;
    MarkExempt(subjects, IsRemembered(list, host, now), out);
  }
  return txn.Commit(err);
}

bool SqliteStore::RecordFailure(std::span<const FailureRequest> requests,
                                RefusalRule rule, FailureMode mode,
                                const LockoutParams& params, int64_t now,
                                std::vector<FailureOutcome>* out, bool* refused,
                                std::string* err) {
  SqliteDb::Transaction txn(db_);
  if (!txn.ok()) {
    *err = db_->Error("cannot lock");
    return false;
  }
  out->clear();
  std::vector<Subject> subjects;
  for (const FailureRequest& req : requests) subjects.push_back(req.subject);
  std::vector<SubjectState> states;
  if (!Get(subjects, now, &states, err)) return false;
  *refused = IsRefused(rule, states);
  for (size_t i = 0; i < requests.size(); ++i) {
    const FailureRequest& req = requests[i];
    const SubjectState current = states[i];
    FailureOutcome outcome{current, false};
    const bool exempt_pair =
        current.exempt && req.subject.kind == SubjectKind::kPair;
    if (!*refused && !current.blocked && !exempt_pair) {
      // The history only matters when this failure blocks.
      int64_t previous = 0;
      if (FailureBlocks(current, req.limit, mode) &&
          !CountHistory(req.subject, now - params.history_seconds, &previous,
                        err)) {
        return false;
      }
      std::optional<StoredRecord> next =
          ApplyFailure(current, req.limit, mode, params, previous, now,
                       &outcome.newly_blocked);
      if (next) {
        if (!Write(req.subject, *next, err)) return false;
        if (outcome.newly_blocked &&
            !AddHistory(req.subject, now, next->expires, err)) {
          return false;
        }
        outcome.state = StateOf(next, now);
        outcome.state.exempt = current.exempt;
      }
    }
    out->push_back(outcome);
  }
  return txn.Commit(err);
}

bool SqliteStore::RecordSuccess(std::span<const Subject> subjects,
                                std::span<const bool> reset, RefusalRule rule,
                                int64_t remember_seconds, int64_t now,
                                std::vector<SubjectState>* before,
                                bool* refused, std::string* err) {
  SqliteDb::Transaction txn(db_);
  if (!txn.ok()) {
    *err = db_->Error("cannot lock");
    return false;
  }
  if (!Get(subjects, now, before, err)) return false;
  *refused = IsRefused(rule, *before);
  if (!*refused) {
    for (size_t i = 0; i < subjects.size(); ++i) {
      // Nothing to delete for a subject with no live record; skipping the
      // write keeps the common success path read-only.
      const SubjectState& s = (*before)[i];
      if (SuccessResets(subjects[i], s, reset[i]) &&
          (s.failures > 0 || s.blocked) && !Erase(subjects[i], err)) {
        return false;
      }
    }
    std::string user;
    std::string host;
    RememberedList list;
    if (remember_seconds > 0 && PairOf(subjects, &user, &host)) {
      if (!LoadRemembered(user, &list, err)) return false;
      RememberHost(&list, host, now + remember_seconds, now);
      if (!SaveRemembered(user, list, err)) return false;
    }
  }
  return txn.Commit(err);
}

bool SqliteStore::Block(const Subject& subject, int64_t until, int64_t now,
                        std::string* err) {
  SqliteDb::Transaction txn(db_);
  if (!txn.ok()) {
    *err = db_->Error("cannot lock");
    return false;
  }
  std::optional<StoredRecord> r;
  if (!Read(subject, &r, err)) return false;
  const StoredRecord next{StateOf(r, now).failures, true, until};
  if (!Write(subject, next, err) || !AddHistory(subject, now, until, err)) {
    return false;
  }
  return txn.Commit(err);
}

bool SqliteStore::Unblock(const Subject& subject, int64_t now,
                          bool* was_blocked, std::string* err) {
  SqliteDb::Transaction txn(db_);
  if (!txn.ok()) {
    *err = db_->Error("cannot lock");
    return false;
  }
  std::optional<StoredRecord> r;
  if (!Read(subject, &r, err)) return false;
  *was_blocked = StateOf(r, now).blocked;
  if (r && !Erase(subject, err)) return false;
  return txn.Commit(err);
}

bool SqliteStore::UnblockAll(int64_t now, std::vector<Subject>* cleared,
                             std::string* err) {
  SqliteDb::Transaction txn(db_);
  if (!txn.ok()) {
    *err = db_->Error("cannot lock");
    return false;
  }
  cleared->clear();
  {
    SqliteDb::Statement st(db_,
                           "DELETE FROM subjects WHERE blocked = 1 AND " LIVE
                           " RETURNING kind, subject");
    st.Bind(1, now);
    while (st.Step()) {
      cleared->push_back(Subject{
          ParseKind(st.Text(0)).value_or(SubjectKind::kUser), st.Text(1)});
    }
    if (st.error()) {
      *err = db_->Error("delete failed");
      return false;
    }
  }
  return txn.Commit(err);
}

bool SqliteStore::List(int64_t now, bool blocked_only,
                       std::vector<StoreEntry>* out, std::string* err) {
  SqliteDb::Statement st(
      db_,
      "SELECT kind, subject, failures, blocked, expires FROM subjects "
      "WHERE " LIVE
      " AND (?2 = 0 OR blocked = 1) ORDER BY CASE kind WHEN 'user' THEN 0 "
      "WHEN 'host' THEN 1 ELSE 2 END, subject");
  st.Bind(1, now);
  st.Bind(2, static_cast<int64_t>(blocked_only));
  out->clear();
  while (st.Step()) {
    const StoredRecord r{st.Int(2), st.Int(3) != 0, st.Int(4)};
    out->push_back(StoreEntry{
        Subject{ParseKind(st.Text(0)).value_or(SubjectKind::kUser), st.Text(1)},
        StateOf(r, now)});
  }
  if (st.error()) {
    *err = db_->Error("read failed");
    return false;
  }
  return true;
}

bool SqliteStore::Stats(int64_t now, int64_t history_seconds, StoreStats* out,
                        std::string* err) {
  *out = StoreStats{};
  SqliteDb::Statement st(
      db_,
      "SELECT kind, blocked, expires = 0, count(*), total(failures) "
      "FROM subjects WHERE " LIVE " GROUP BY 1, 2, 3");
  st.Bind(1, now);
  while (st.Step()) {
    const SubjectKind kind = ParseKind(st.Text(0)).value_or(SubjectKind::kUser);
    const bool blocked = st.Int(1) != 0;
    const int64_t count = st.Int(3);
    out->failures += st.Int(4);
    if (blocked) {
      *BlockedCount(kind, out) += count;
      if (st.Int(2)) out->permanent_blocks += count;
    } else {
      *FailingCount(kind, out) += count;
    }
  }
  if (st.error()) {
    *err = db_->Error("read failed");
    return false;
  }
  SqliteDb::Statement hist(db_, "SELECT count(*) FROM blocks WHERE time > ?1");
  hist.Bind(1, now - history_seconds);
  if (!hist.Step()) {
    *err = db_->Error("read failed");
    return false;
  }
  out->blocks_in_window = hist.Int(0);
  return true;
}

bool SqliteStore::ListRemembered(int64_t now, std::vector<RememberedEntry>* out,
                                 std::string* err) {
  SqliteDb::Statement st(db_,
                         "SELECT user, host, until FROM remembered WHERE "
                         "until > ?1 ORDER BY user, host");
  st.Bind(1, now);
  out->clear();
  while (st.Step()) {
    out->push_back(RememberedEntry{st.Text(0), st.Text(1), st.Int(2)});
  }
  if (st.error()) *err = db_->Error("read failed");
  return !st.error();
}

bool SqliteStore::Forget(const std::string& user,
                         const std::optional<std::string>& host, int64_t now,
                         int64_t* removed, std::string* err) {
  SqliteDb::Transaction txn(db_);
  if (!txn.ok()) {
    *err = db_->Error("cannot lock");
    return false;
  }
  RememberedList list;
  if (!LoadRemembered(user, &list, err)) return false;
  DropRemembered(&list, now, /*forget=*/false, std::nullopt);
  *removed = DropRemembered(&list, now, /*forget=*/true, host);
  if (!SaveRemembered(user, list, err)) return false;
  return txn.Commit(err);
}

bool SqliteStore::Prune(int64_t now, int64_t history_seconds, int64_t* removed,
                        std::string* err) {
  SqliteDb::Transaction txn(db_);
  if (!txn.ok()) {
    *err = db_->Error("cannot lock");
    return false;
  }
  SqliteDb::Statement subjects(db_, "DELETE FROM subjects WHERE NOT " LIVE);
  subjects.Bind(1, now);
  subjects.Step();
  *removed = sqlite3_changes64(db_->handle());
  SqliteDb::Statement hist(db_, "DELETE FROM blocks WHERE time <= ?1");
  hist.Bind(1, now - history_seconds);
  if (!subjects.error()) hist.Step();
  if (subjects.error() || hist.error()) {
    *err = db_->Error("delete failed");
    return false;
  }
  *removed += sqlite3_changes64(db_->handle());
  SqliteDb::Statement remembered(db_,
                                 "DELETE FROM remembered WHERE until <= ?1");
  remembered.Bind(1, now);
  remembered.Step();
  if (remembered.error()) {
    *err = db_->Error("delete failed");
    return false;
  }
  *removed += sqlite3_changes64(db_->handle());
  return txn.Commit(err);
}

}  // namespace defender
