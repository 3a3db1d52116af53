// Opens what one PAM call or CLI command needs, as the config says: the
// store (SQLite or Redis) and the attempt journal (journal.h). Everything
// opened here is closed when the Backend is destroyed: nothing outlives the
// call, so nothing is carried across fork(). (A Redis connection given in
// BackendOptions belongs to the caller, which must not use it across
// fork() either.)
#ifndef PAM_DEFENDER_COMMON_BACKEND_H_
#define PAM_DEFENDER_COMMON_BACKEND_H_

#include <memory>
#include <string>

#include "common/config.h"
#include "common/journal.h"
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
  // Honour redis.on_error = "local" by switching to the local SQLite store
  // when Redis fails. Off for the CLI, which must show the fleet's view or
  // say that it cannot.
  bool local_fallback = false;
  // With Redis: open the local database only when the fallback store needs
  // it, not in Open(). A login with Redis working never opens SQLite.
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

class Backend {
 public:
  // Opens the configured store and, if attempts.store, the attempt journal
  // (which opens its file on its first record).
  // Returns nullptr with *err set when the store cannot be opened.
  static std::unique_ptr<Backend> Open(const Config& cfg, std::string* err);
  static std::unique_ptr<Backend> Open(const Config& cfg,
                                       const BackendOptions& options,
                                       std::string* err);
  ~Backend();

  Store* store() const { return store_.get(); }
  // The attempt log for a Policy: the journal, or nullptr when
  // attempts.store is false. (defenderctl reads the archive: archive.h.)
  AttemptLog* log() const { return log_.get(); }
  // The local database, or nullptr when the store does not need it or
  // (lazy_local) it has not been opened yet.
  SqliteDb* local_db() const { return db_.get(); }
  // True when the config keeps anything in the local database.
  bool uses_local() const { return uses_local_; }
  // The local database, opened now if it is not yet (nullptr with *err set
  // when it cannot be opened, or when !uses_local()).
  SqliteDb* OpenLocal(std::string* err);
  // With the local fallback: empty while Redis works, else the Redis error
  // after which the store went on in the local SQLite database (empty too
  // when that database could not be opened: the call failed).
  std::string fallback_reason() const;

 private:
  Backend() = default;

  std::string path_;
  bool uses_local_ = false;
  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<RedisConnection> own_redis_;
  RedisConnection* step_redis_ = nullptr;  // Its step ends with the Backend.
  std::unique_ptr<Store> redis_store_;     // When the fallback wraps it.
  std::unique_ptr<Store> local_store_;     // Likewise.
  FallbackStore* fallback_ = nullptr;      // store_ when it is one.
  std::unique_ptr<Store> store_;
  std::unique_ptr<JournalWriter> log_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_BACKEND_H_
