#include "common/sqlite_db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "common/trusted_file.h"

namespace defender {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS attempts(
  id       INTEGER PRIMARY KEY,
  time     INTEGER NOT NULL,
  service  TEXT    NOT NULL,
  user     TEXT    NOT NULL,
  host     TEXT    NOT NULL,
  tty      TEXT    NOT NULL,
  result   TEXT    NOT NULL);
CREATE INDEX IF NOT EXISTS attempts_time ON attempts(time);
PRAGMA user_version = 2;
)sql";

// Opens the directory of the database at `path` (with `create`, creating
// it 0700 first, one level only) and checks it, then the database file
// (with `create`, created 0600 if missing, so SQLite never creates it
// with the process umask) and its -wal and -shm if present. The files are
// opened O_PATH | O_NOFOLLOW relative to the checked directory, which no
// other user can change: SQLite, which opens them again by name, gets the
// same files. (Closing an O_PATH descriptor does not drop the POSIX locks
// other connections of this process hold on the file.)
bool CheckStore(const std::string& path, bool create, std::string* err) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  const std::string base =
      slash == std::string::npos ? path : path.substr(slash + 1);
  if (create && mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    *err = dir + ": cannot create directory: " + strerror(errno);
    return false;
  }
  const int dfd = open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    *err = dir + ": cannot open: " + strerror(errno);
    return false;
  }
  bool ok = CheckTrusted(dfd, dir, /*dir=*/true, err);
  if (ok && create) {
    const int fd = openat(dfd, base.c_str(),
                          O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW |
                              O_NOCTTY | O_NONBLOCK,
                          0600);
    if (fd >= 0) {
      close(fd);
    } else if (errno != EEXIST) {
      *err = path + ": cannot open: " + strerror(errno);
      ok = false;
    }
  }
  for (const char* suffix : {"", "-wal", "-shm"}) {
    if (!ok) break;
    const std::string name = base + suffix;
    const int fd = openat(dfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && *suffix != '\0') continue;
      *err = path + suffix + ": cannot open: " + strerror(errno);
      ok = false;
      break;
    }
    ok = CheckTrusted(fd, path + suffix, /*dir=*/false, err);
    close(fd);
  }
  close(dfd);
  return ok;
}

sqlite3* OpenHandle(const std::string& path, int flags, std::string* err) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
      nullptr);
  if (rc != SQLITE_OK) {
    *err = path + ": cannot open database: " +
           (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);
    return nullptr;
  }
  sqlite3_extended_result_codes(db, 1);
  return db;
}

}  // namespace

std::unique_ptr<SqliteDb> SqliteDb::OpenChecked(const std::string& path,
                                                bool create, int flags,
                                                int busy_timeout_ms,
                                                std::string* err) {
  if (!CheckStore(path, create, err)) return nullptr;
  sqlite3* handle = OpenHandle(path, flags, err);
  if (handle == nullptr) return nullptr;
  return std::unique_ptr<SqliteDb>(new SqliteDb(handle, path, busy_timeout_ms));
}

std::unique_ptr<SqliteDb> SqliteDb::Open(const std::string& path,
                                         int busy_timeout_ms,
                                         std::string* err) {
  std::unique_ptr<SqliteDb> db = OpenChecked(
      path, /*create=*/true, SQLITE_OPEN_READWRITE, busy_timeout_ms, err);
  if (!db) return nullptr;
  sqlite3* handle = db->handle();
  // Each PAM step opens its own connection, and closing the last connection
  // to a WAL database checkpoints the WAL into the database (two fsyncs) and
  // deletes it, so the next step creates it again (two more: the WAL header
  // and the directory). Instead the WAL is left for the next connection and
  // checkpointed on close only once it holds kWalCheckpointFrames frames: a
  // new connection reads the whole WAL to rebuild its index, so it is kept
  // short. With synchronous=NORMAL a commit survives a crash of the process;
  // a power loss (or a reset virtual machine) can drop the commits since the
  // last checkpoint, at most kWalCheckpointFrames pages: a few dozen login
  // steps. (pam_faillock never syncs its tally files.)
  sqlite3_db_config(handle, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
  db->defer_checkpoint_ = true;
  sqlite3_wal_hook(handle, &SqliteDb::OnWalCommit, db.get());
  if (!db->EnsureSchema(err)) return nullptr;
  return db;
}

std::unique_ptr<SqliteDb> SqliteDb::OpenReadOnly(const std::string& path,
                                                 int busy_timeout_ms,
                                                 std::string* err) {
  return OpenChecked(path, /*create=*/false, SQLITE_OPEN_READONLY,
                     busy_timeout_ms, err);
}

SqliteDb::SqliteDb(sqlite3* db, std::string path, int busy_timeout_ms)
    : db_(db), path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {
  sqlite3_busy_handler(db_, &SqliteDb::OnBusy, this);
}

int SqliteDb::OnBusy(void* self, int count) {
  auto* db = static_cast<SqliteDb*>(self);
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  if (count == 0) db->busy_since_ns_ = now;
  if (now - db->busy_since_ns_ >= int64_t{db->busy_timeout_ms_} * 1'000'000) {
    return 0;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1));
  return 1;
}

bool SqliteDb::DeleteInBatches(const BatchDelete& batch_delete,
                               int64_t* deleted, std::string* err) {
  using std::chrono::steady_clock;
  constexpr auto kTarget = std::chrono::milliseconds(kBatchMillis);
  *deleted = 0;
  // Rows deleted in time order sit on pages all over the table (and in id
  // order all over the time index): keep those pages cached between the
  // batches instead of reading them again.
  // The WAL restarts from its start once checkpointed; truncating it then
  // keeps the file (and what closing the last connection checkpoints and
  // removes) small.
  if (!Exec("PRAGMA cache_size = -65536", err) ||
      !Exec("PRAGMA journal_size_limit = 4194304", err)) {
    return false;
  }
  int64_t batch = 64;
  for (;;) {
    const steady_clock::time_point start = steady_clock::now();
    int64_t n = 0;
    bool more = false;
    {
      Transaction txn(this);
      if (!txn.ok()) {
        *err = Error("cannot lock");
        return false;
      }
      if (!batch_delete(batch, &n, &more)) {
        *err = Error("delete failed");
        return false;
      }
      // The WAL is checkpointed below, after the lock is timed.
      batch_delete_ = true;
      const bool committed = txn.Commit(err);
      batch_delete_ = false;
      if (!committed) return false;
    }
    const steady_clock::time_point end = steady_clock::now();
    *deleted += n;
    if (!more) return true;
    if (n == 0) {  // Rows left that the batch could not delete.
      *err = path_ + ": rows to delete left undeleted";
      return false;
    }
    if (end - start < kTarget / 2 && batch < (int64_t{1} << 20)) {
      batch *= 2;
    } else if (end - start > kTarget && batch > 8) {
      batch /= 2;
    }
    if (wal_frames_ >= kWalAutoCheckpointFrames) {
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                nullptr, nullptr);
    }
    // Lets another process waiting for the lock (retrying every
    // millisecond) take it before the next batch.
    if (kBatchPauseMillis > 0) {
      std::this_thread::sleep_until(
          end + std::chrono::milliseconds(kBatchPauseMillis));
    }
  }
}

SqliteDb::~SqliteDb() {
  for (const CachedStatement& c : statements_) sqlite3_finalize(c.stmt);
  if (defer_checkpoint_ && wal_frames_ == 0) {
    // This connection wrote nothing (a preauth step): the WAL size comes
    // from the file, so that readers too checkpoint a WAL that others grew
    // (another page size only moves the moment of the checkpoint).
    wal_frames_ = static_cast<int>(std::max<int64_t>(WalFrames(path_), 0));
  }
  if (defer_checkpoint_ && wal_frames_ >= kWalCheckpointFrames) {
    // Checkpoints (if this is the last connection) and removes the WAL.
    sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 0, nullptr);
  }
  sqlite3_close_v2(db_);
}

int64_t SqliteDb::WalFrames(const std::string& path) {
  struct stat st;
  if (stat((path + "-wal").c_str(), &st) != 0) return -1;
  return st.st_size > 32 ? (st.st_size - 32) / (24 + 4096) : 0;
}

int SqliteDb::OnWalCommit(void* self, sqlite3* db, const char* name,
                          int frames) {
  auto* me = static_cast<SqliteDb*>(self);
  me->wal_frames_ = frames;
  if (me->batch_delete_) return SQLITE_OK;  // DeleteInBatches checkpoints.
  // What sqlite3_wal_autocheckpoint() does by default (this hook replaces
  // it): a passive checkpoint once the WAL holds 1000 pages, for WALs that
  // grow while other connections keep the database open.
  if (frames >= kWalAutoCheckpointFrames) {
    sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                              nullptr);
  }
  return SQLITE_OK;
}

int64_t SqliteDb::Changes() const { return sqlite3_changes64(db_); }

std::string SqliteDb::Error(std::string_view context) const {
  return path_ + ": " + std::string(context) + ": " + sqlite3_errmsg(db_);
}

bool SqliteDb::Exec(const char* sql, std::string* err) {
  if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK) {
    return true;
  }
  *err = Error("query failed");
  return false;
}

bool SqliteDb::EnsureSchema(std::string* err) {
  // synchronous=NORMAL in WAL mode: a commit survives a crash of the
  // process; only a power loss can drop the last transactions.
  if (!Exec("PRAGMA synchronous=NORMAL", err)) return false;
  int64_t current = 0;
  {
    Statement version(this, "PRAGMA user_version");
    if (!version.Step()) {
      *err = Error("cannot read schema version");
      return false;
    }
    current = version.Int(0);
  }
  if (current == kSchemaVersion) return true;
  if (current > kSchemaVersion) {
    *err = path_ + ": schema version " + std::to_string(current) +
           " is newer than this program's (" + std::to_string(kSchemaVersion) +
           ")";
    return false;
  }
  // New database: switch to WAL (must be outside a transaction), then
  // create the schema under the write lock. A concurrent creator is fine:
  // every statement is IF NOT EXISTS.
  {
    Statement wal(this, "PRAGMA journal_mode=WAL");
    if (!wal.Step() || wal.Text(0) != "wal") {
      *err = Error("cannot switch to WAL mode");
      return false;
    }
  }
  Transaction txn(this);
  if (!txn.ok()) {
    *err = Error("cannot lock to create the schema");
    return false;
  }
  if (!Exec(kSchema, err)) return false;
  return txn.Commit(err);
}

sqlite3_stmt* SqliteDb::Acquire(const char* sql) {
  for (CachedStatement& c : statements_) {
    if (!c.in_use && c.sql == sql) {
      c.in_use = true;
      return c.stmt;
    }
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt,
                         nullptr) != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return nullptr;
  }
  statements_.push_back(CachedStatement{sql, stmt, true});
  return stmt;
}

void SqliteDb::Release(sqlite3_stmt* stmt) {
  if (stmt == nullptr) return;
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  for (CachedStatement& c : statements_) {
    if (c.stmt == stmt) c.in_use = false;
  }
}

SqliteDb::Statement::Statement(SqliteDb* db, const char* sql)
    : db_(db), stmt_(db->Acquire(sql)), error_(stmt_ == nullptr) {}

SqliteDb::Statement::~Statement() { db_->Release(stmt_); }

void SqliteDb::Statement::Bind(int index, int64_t value) {
  if (stmt_) sqlite3_bind_int64(stmt_, index, value);
}

void SqliteDb::Statement::Bind(int index, std::string_view value) {
  if (stmt_) {
    sqlite3_bind_text(stmt_, index, value.data(),
                      static_cast<int>(value.size()), SQLITE_TRANSIENT);
  }
}

void SqliteDb::Statement::BindColumn(int index, const Statement& from,
                                     int column) {
  if (stmt_ && from.stmt_) {
    sqlite3_bind_value(stmt_, index, sqlite3_column_value(from.stmt_, column));
  }
}

bool SqliteDb::Statement::Step() {
  if (!stmt_) return false;
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc != SQLITE_DONE) error_ = true;
  return false;
}

int64_t SqliteDb::Statement::Int(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string SqliteDb::Statement::Text(int column) const {
  const auto* text =
      reinterpret_cast<const char*>(sqlite3_column_text(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  return text ? std::string(text, static_cast<size_t>(size)) : std::string();
}

void SqliteDb::Statement::Reset() {
  if (stmt_) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

SqliteDb::Transaction::Transaction(SqliteDb* db, bool write) : db_(db) {
  if (sqlite3_get_autocommit(db_->handle()) == 0) {
    ok_ = true;  // Joins the enclosing transaction.
    return;
  }
  outer_ = true;
  ok_ = sqlite3_exec(db_->handle(), write ? "BEGIN IMMEDIATE" : "BEGIN",
                     nullptr, nullptr, nullptr) == SQLITE_OK;
}

SqliteDb::Transaction::~Transaction() {
  if (outer_ && ok_ && !done_) {
    sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

bool SqliteDb::Transaction::Commit(std::string* err) {
  if (!ok_) {
    *err = db_->Error("transaction not started");
    return false;
  }
  if (!outer_) return true;
  done_ = true;
  if (sqlite3_exec(db_->handle(), "COMMIT", nullptr, nullptr, nullptr) ==
      SQLITE_OK) {
    return true;
  }
  *err = db_->Error("commit failed");
  sqlite3_exec(db_->handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  return false;
}

}  // namespace defender
