// One connection to a local SQLite database: the attempt archive
// (archive.h), which only defenderctl opens (a login never does). Opened
// per command and closed before it returns: never shared across fork().
#ifndef PAM_DEFENDER_COMMON_SQLITE_DB_H_
#define PAM_DEFENDER_COMMON_SQLITE_DB_H_

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace defender {

class SqliteDb {
 public:
  // The schema version written to PRAGMA user_version.
  static constexpr int kSchemaVersion = 2;
  // WAL size (frames) from which closing a connection checkpoints the WAL
  // into the database and removes it (when no other connection is open).
  static constexpr int kWalCheckpointFrames = 64;
  // Frames in the WAL beside the database at `path` (a 32-byte header, then
  // frames of a 24-byte header and a page of SQLite's default size, which
  // the database is created with), or -1 when there is no WAL file.
  static int64_t WalFrames(const std::string& path);

  // Opens (creating if needed) the database at `path`. A missing file is
  // created with mode 0600 and a missing parent directory with 0700 (one
  // level only). The store is trusted only if the directory, the file and
  // any -wal and -shm beside it are owned by the effective uid and not
  // writable by group or others (checked with fstat on descriptors opened
  // without following symlinks, in the checked directory, which no other
  // user can then change); otherwise nothing is opened and *err names the
  // path and what is wrong. SQLite creates -wal and -shm with the file's
  // owner and mode, whatever the umask. New databases get the schema and
  // WAL mode; existing ones with an older schema are upgraded, newer ones
  // refused. Symlinks are not followed. Lock waits are bounded by
  // `busy_timeout_ms`, polled every millisecond (see OnBusy). Returns
  // nullptr with *err set on failure.
  static std::unique_ptr<SqliteDb> Open(const std::string& path,
                                        int busy_timeout_ms, std::string* err);
  // Opens an existing database read-only (no schema work; the same trust
  // checks). For the CLI.
  static std::unique_ptr<SqliteDb> OpenReadOnly(const std::string& path,
                                                int busy_timeout_ms,
                                                std::string* err);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

  // Runs SQL without results. On failure sets *err and returns false.
  bool Exec(const char* sql, std::string* err);
  // "<path>: <context>: <sqlite message>".
  std::string Error(std::string_view context) const;

  // A prepared statement. Bind indexes start at 1. Statements are kept per
  // connection: the first use of a given SQL text prepares it, later ones
  // (on the same connection, once the earlier Statement is gone) reuse it,
  // reset and with its bindings cleared. A Statement must not outlive its
  // SqliteDb.
  class Statement {
   public:
    Statement(SqliteDb* db, const char* sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    bool ok() const { return stmt_ != nullptr; }
    void Bind(int index, int64_t value);
    void Bind(int index, std::string_view value);
    // Binds a copy of column `column` of `from`'s current row as it is
    // (its type too: a REAL stays a REAL).
    void BindColumn(int index, const Statement& from, int column);
    // Steps once: true with a row available, false when done or on error
    // (then error() is true).
    bool Step();
    bool error() const { return error_; }
    int64_t Int(int column) const;
    std::string Text(int column) const;
    void Reset();

   private:
    SqliteDb* db_;
    sqlite3_stmt* stmt_ = nullptr;
    bool error_ = false;
  };

  // BEGIN IMMEDIATE ... COMMIT (BEGIN ... COMMIT when not `write`: a read
  // snapshot that takes the write lock only if it writes). Nested
  // transactions join the outer one. Rolls back on destruction unless
  // Commit() succeeded.
  class Transaction {
   public:
    explicit Transaction(SqliteDb* db, bool write = true);
    ~Transaction();
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    bool ok() const { return ok_; }
    bool Commit(std::string* err);

   private:
    SqliteDb* db_;
    bool outer_ = false;
    bool ok_ = false;
    bool done_ = false;
  };

  // Deletes rows in batches, each in its own write transaction that holds
  // the lock for about kBatchMillis at most (the batch size adapts), so
  // that the WAL stays bounded and another defenderctl waiting for the
  // lock gets it between two batches. (Logins never open the archive, so
  // nothing on the login path waits for it.) `batch` deletes at most
  // `limit` rows in the open transaction: it sets *n to the rows it
  // deleted and *more when rows may be left, or returns false on an error
  // (then Error() describes it). Stops when a batch leaves none; one that
  // leaves some but deletes none is an error. *deleted
  // counts the rows deleted, also on failure.
  static constexpr int kBatchMillis = 100;
  static constexpr int kBatchPauseMillis = 0;
  using BatchDelete =
      std::function<bool(int64_t limit, int64_t* n, bool* more)>;
  bool DeleteInBatches(const BatchDelete& batch, int64_t* deleted,
                       std::string* err);
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int64_t Changes() const;

 private:
  // SQLite's default automatic checkpoint size.
  static constexpr int kWalAutoCheckpointFrames = 1000;

  // A prepared statement kept for reuse on this connection.
  struct CachedStatement {
    std::string sql;
    sqlite3_stmt* stmt;
    bool in_use;
  };

  SqliteDb(sqlite3* db, std::string path, int busy_timeout_ms);
  // Checks the store at `path` (CheckStore; `create`: it may be made) and
  // opens it with `flags`. nullptr with *err set on failure.
  static std::unique_ptr<SqliteDb> OpenChecked(const std::string& path,
                                               bool create, int flags,
                                               int busy_timeout_ms,
                                               std::string* err);
  // sqlite3_busy_handler callback: retries every millisecond until
  // busy_timeout_ms_ has passed since the first retry (SQLite's own
  // handler backs off to 100 ms sleeps, which a writer that takes the
  // lock in short batches can keep missing).
  static int OnBusy(void* self, int count);
  // A statement for `sql`, from the cache or newly prepared (nullptr if it
  // does not prepare); Release() gives it back.
  sqlite3_stmt* Acquire(const char* sql);
  void Release(sqlite3_stmt* stmt);
  bool EnsureSchema(std::string* err);
  // sqlite3_wal_hook callback: notes the WAL size after each commit.
  static int OnWalCommit(void* self, sqlite3* db, const char* name, int frames);

  sqlite3* db_;
  std::string path_;
  int busy_timeout_ms_;
  int64_t busy_since_ns_ = 0;  // Monotonic time of the first retry.
  int wal_frames_ = 0;         // WAL size after this connection's last commit.
  bool defer_checkpoint_ = false;  // Opened by Open(): see there.
  bool batch_delete_ = false;      // In a DeleteInBatches commit.
  std::vector<CachedStatement> statements_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_SQLITE_DB_H_
