// Opens what one PAM call or CLI command needs, as the config says: the
// store (local or Redis) and the local attempt log. Everything opened here
// is closed when the Backend is destroyed: nothing outlives the call, so
// nothing is carried across fork(). (A Redis connection given in
// BackendOptions belongs to the caller, which must not use it across
// fork() either.)
#ifndef PAM_DEFENDER_COMMON_BACKEND_H_
#define PAM_DEFENDER_COMMON_BACKEND_H_

#include <memory>
#include <string>

#include "common/attempt_log.h"
#include "common/config.h"
#include "common/sqlite_db.h"
#include "common/store.h"

namespace defender {

class RedisConnection;
class FallbackStore;

// What the PAM module adds to the config when it opens a Backend.
struct BackendOptions {
  // Named in the events the Redis store publishes (origin_host defaults to
  // this machine's host name).
  std::string service;
  std::string origin_host;
  // A connection to reuse (borrowed; its settings must be the config's).
  // nullptr: the Backend opens and owns its own.
  RedisConnection* redis = nullptr;
  // Honour redis.on_error = "local" by switching to the local store
  // when Redis fails. Off for the CLI, which must show the fleet's view or
  // say that it cannot.
  bool local_fallback = false;
  // With Redis: open the local database only when something is written to
  // it (an attempt row, or the fallback store), not in Open(). A login
  // whose preauth finds nothing to refuse then never opens SQLite.
  // (The local store is opened only for the fallback, when Redis fails.)
  bool lazy_local = false;
  // With Redis: the whole life of the Backend (one PAM step) is one Redis
  // step, with one deadline (RedisConnection::StartStep()).
  bool redis_one_deadline = false;
  // With Redis: the server's clock decides (RedisStoreOptions::
  // server_clock). Callers pass their Clock's IsRealTime(); false only for
  // a test that sets the time.
  bool redis_server_clock = true;
};

// How long a login waits for another process's SQLite write lock.
inline constexpr int kSqliteBusyTimeoutMs = 5000;
// How long a step of the local store waits for a record file's lock.
inline constexpr int kLocalLockTimeoutMs = 5000;
// The attempt log's SQLite database in store.dir.
inline constexpr const char* kAttemptDbName = "attempts.db";

class Backend {
 public:
  // Opens the configured store and, if attempts.store, the attempt log.
  // Returns nullptr with *err set when the store cannot be opened.
  static std::unique_ptr<Backend> Open(const Config& cfg, std::string* err);
  static std::unique_ptr<Backend> Open(const Config& cfg,
                                       const BackendOptions& options,
                                       std::string* err);
  ~Backend();

  // The configured store (the local one, or Redis, maybe with the local
  // fallback).
  Store* store() const;
  // The local attempt log, or nullptr when attempts.store is false (or
  // with lazy_local: see log()).
  SqliteAttemptLog* attempt_log() const { return log_.get(); }
  // The attempt log for a Policy: attempt_log(), or with lazy_local one that
  // opens the local database on its first row. nullptr when attempts.store
  // is false.
  AttemptLog* log() const { return log_ ? log_.get() : lazy_log_.get(); }
  // The attempt log's database, or nullptr when the attempt log is off or
  // (lazy_local) it has not been opened yet.
  SqliteDb* local_db() const { return db_.get(); }
  // True when the config keeps an attempt log in the local database.
  bool uses_local() const { return uses_local_; }
  // The attempt log's database, opened now if it is not yet (nullptr with
  // *err set when it cannot be opened, or when !uses_local()).
  SqliteDb* OpenLocal(std::string* err);
  // The local store in store.dir, opened now if it is not yet (nullptr with
  // *err set when it cannot be opened).
  Store* OpenLocalStore(std::string* err);
  // With the local fallback: empty while Redis works, else the Redis error
  // after which the store went on in the local store (empty too when that
  // store could not be opened: the call failed).
  std::string fallback_reason() const;

 private:
  Backend() = default;

  std::string dir_;
  std::string path_;  // Of the attempt log's database.
  bool uses_local_ = false;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<RedisConnection> own_redis_;
  RedisConnection* step_redis_ = nullptr;  // Its step ends with the Backend.
  std::unique_ptr<Store> redis_store_;     // When the fallback wraps it.
  std::unique_ptr<Store> local_store_;     // The store, or Redis's fallback.
  FallbackStore* fallback_ = nullptr;      // store_ when it is one.
  std::unique_ptr<Store> store_;
  std::unique_ptr<SqliteAttemptLog> log_;
  std::unique_ptr<AttemptLog> lazy_log_;  // With lazy_local.
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_BACKEND_H_
