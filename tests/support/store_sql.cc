#include "tests/support/store_sql.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <vector>

#include "common/archive.h"
#include "common/journal.h"
#include "common/subject_record.h"

namespace defender::testing {
namespace {

using Db = std::unique_ptr<sqlite3, decltype(&sqlite3_close)>;
using Stmt = std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)>;

Stmt Prepare(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  return Stmt(st, &sqlite3_finalize);
}

// Copies each record file of dir/subjects into the tables.
bool Load(sqlite3* db, const std::string& dir) {
  Stmt subject = Prepare(db, "INSERT INTO subjects VALUES (?, ?, ?, ?, ?)");
  Stmt block = Prepare(db, "INSERT INTO blocks VALUES (?, ?, ?)");
  Stmt remembered = Prepare(db, "INSERT INTO remembered VALUES (?, ?, ?)");
  if (!subject || !block || !remembered) return false;
  const std::string subjects = dir + "/subjects";
  DIR* d = opendir(subjects.c_str());
  if (d == nullptr) return true;  // No store yet: empty tables.
  bool ok = true;
  while (const dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(subjects + "/" + e->d_name, std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), {}};
    SubjectRecord r;
    int slot;
    if (!DecodeRecordFile(
            {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, &r,
            &slot)) {
      continue;  // Reads as absent.
    }
    const char* kind = KindName(r.kind);
    if (r.state) {
      sqlite3_bind_text(subject.get(), 1, kind, -1, SQLITE_STATIC);
      sqlite3_bind_text(subject.get(), 2, r.name.data(),
                        static_cast<int>(r.name.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(subject.get(), 3, r.state->failures);
      sqlite3_bind_int64(subject.get(), 4, r.state->blocked);
      sqlite3_bind_int64(subject.get(), 5, r.state->expires);
      ok = ok && sqlite3_step(subject.get()) == SQLITE_DONE;
      sqlite3_reset(subject.get());
    }
    for (int64_t t : r.history) {
      sqlite3_bind_text(block.get(), 1, kind, -1, SQLITE_STATIC);
      sqlite3_bind_text(block.get(), 2, r.name.data(),
                        static_cast<int>(r.name.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(block.get(), 3, t);
      ok = ok && sqlite3_step(block.get()) == SQLITE_DONE;
      sqlite3_reset(block.get());
    }
    for (const RememberedHost& h : r.remembered) {
      sqlite3_bind_text(remembered.get(), 1, r.name.data(),
                        static_cast<int>(r.name.size()), SQLITE_TRANSIENT);
      sqlite3_bind_text(remembered.get(), 2, h.host.data(),
                        static_cast<int>(h.host.size()), SQLITE_TRANSIENT);
      sqlite3_bind_int64(remembered.get(), 3, h.until);
      ok = ok && sqlite3_step(remembered.get()) == SQLITE_DONE;
      sqlite3_reset(remembered.get());
    }
  }
  closedir(d);
  return ok;
}

}  // namespace

bool StoreSqlRows(const std::string& dir, const std::string& sql,
                  const std::function<void(sqlite3_stmt*)>& row) {
  sqlite3* raw = nullptr;
  if (sqlite3_open(":memory:", &raw) != SQLITE_OK) {
    sqlite3_close(raw);
    return false;
  }
  Db db(raw, &sqlite3_close);
  sqlite3_busy_timeout(raw, 5000);
  const std::string attempts = dir + "/attempts.db";
  // The module appends to the journal; move it into the archive first, as
  // defenderctl does before it reads attempts.
  if (access((dir + "/" + kJournalName).c_str(), F_OK) == 0) {
    std::string err;
    std::unique_ptr<AttemptArchive> archive =
        AttemptArchive::Open(dir, 0, &err);
    IngestResult ingested;
    if (!archive || !archive->Ingest(&ingested, &err)) {
      return false;
    }
  }
  if (sqlite3_exec(raw,
                   "CREATE TABLE subjects(kind TEXT, subject TEXT, failures "
                   "INTEGER, blocked INTEGER, expires INTEGER);"
                   "CREATE TABLE blocks(kind TEXT, subject TEXT, time INTEGER);"
                   "CREATE TABLE remembered(user TEXT, host TEXT, until "
                   "INTEGER)",
                   nullptr, nullptr, nullptr) != SQLITE_OK ||
      !Load(raw, dir)) {
    return false;
  }
  if (access(attempts.c_str(), F_OK) == 0) {
    Stmt attach = Prepare(raw, "ATTACH ? AS a");
    sqlite3_bind_text(attach.get(), 1, attempts.c_str(), -1, SQLITE_STATIC);
    if (sqlite3_step(attach.get()) != SQLITE_DONE ||
        sqlite3_exec(raw,
                     "CREATE TEMP VIEW attempts AS SELECT * FROM a.attempts",
                     nullptr, nullptr, nullptr) != SQLITE_OK) {
      return false;
    }
  }
  Stmt st = Prepare(raw, sql);
  if (!st) return false;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) row(st.get());
  return rc == SQLITE_DONE;
}

}  // namespace defender::testing
