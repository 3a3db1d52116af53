// The unit of work of one PAM step or one CLI command (doc/DESIGN.md §9):
// opens what it needs, as the config says: the store (the local store in
// store.dir, or Redis with the local store as its fallback) and the
// attempt journal (journal.h). Each Store method is one atomic step and
// each journal record one append, so there is nothing to commit: what a
// step did is durable when its call returns. Everything opened here is
// closed when the Backend is destroyed: nothing outlives the call, so
// nothing is carried across fork(). (A Redis connection given in
// BackendOptions belongs to the caller, which must not use it across
// fork() either.) A login never opens SQLite: the attempt archive is
// defenderctl's (archive.h).
#ifndef PAM_DEFENDER_COMMON_BACKEND_H_
#define PAM_DEFENDER_COMMON_BACKEND_H_

#include <memory>
#include <string>

#include "common/config.h"
#include "common/error.h"
#include "common/journal.h"
#include "common/store.h"

namespace defender {

class RedisConnection;
class FallbackStore;
class LocalStore;

// What the PAM module adds to the config when it opens a Backend.
struct BackendOptions {
  // Named in the events the Redis store publishes (origin_host defaults to
  // this machine's host name).
  std::string service;
  std::string origin_host;
  // A connection to reuse (borrowed; its settings must be the config's).
  // nullptr: the Backend opens and owns its own.
  RedisConnection* redis = nullptr;
  // Honour redis.on_error = "local" by switching to the local store when
  // Redis fails (the local store is then opened only at that moment). Off
  // for the CLI, which must show the fleet's view or say that it cannot.
  bool local_fallback = false;
  // The whole life of the Backend is one PAM step: Redis gets one deadline
  // (RedisConnection::StartStep()), and the local store's lock waits one
  // budget of kLocalLockTimeoutMs (LocalStore::ShareWaitBudget()), however
  // many store calls the step makes.
  bool one_step = false;
  // With Redis: the server's clock decides (RedisStoreOptions::
  // server_clock). Callers pass their Clock's IsRealTime(); false only for
  // a test that sets the time.
  bool redis_server_clock = true;
};

// How long defenderctl waits for the attempt archive's SQLite write lock.
inline constexpr int kSqliteBusyTimeoutMs = 5000;
// How long a step waits for a local store record's lock (local_store.h).
inline constexpr int kLocalLockTimeoutMs = 5000;

class Backend {
 public:
  // Opens the configured store and, if attempts.store, the attempt journal
  // (which opens its file on its first record). Returns nullptr with *err
  // set when the store cannot be opened; its kind is the local store's
  // (LocalStore::Open), or kCorrupt for a key prefix Redis cannot use.
  static std::unique_ptr<Backend> Open(const Config& cfg,
                                       const BackendOptions& options,
                                       Error* err);
  // The same, for callers that only report the message.
  static std::unique_ptr<Backend> Open(const Config& cfg, std::string* err);
  static std::unique_ptr<Backend> Open(const Config& cfg,
                                       const BackendOptions& options,
                                       std::string* err);
  ~Backend();

  // The configured store (the local one, or Redis, maybe with the local
  // fallback).
  Store* store() const { return store_ ? store_.get() : local_store_.get(); }
  // The attempt log for a Policy: the journal, or nullptr when
  // attempts.store is false.
  AttemptLog* log() const { return log_.get(); }
  // With the local fallback: empty while Redis works, else the Redis error
  // after which the store went on in the local store (empty too when that
  // store could not be opened: the call failed).
  std::string fallback_reason() const;
  // Whether the local store (the store, or Redis's fallback) has failed a
  // call because a record's lock was held past the timeout
  // (LocalStore::lock_timed_out).
  bool lock_timed_out() const;
  // The local store once it is open (the store, or Redis's fallback once a
  // call needed it); nullptr before.
  const LocalStore* local_store() const;

 private:
  Backend() = default;
  // Open's part for `backend = "redis"`: the Redis store (with the local
  // fallback when options and config ask for it). Out of the code that a
  // login on the local store runs (doc/DESIGN.md §7, "Hot code first").
  [[gnu::cold, gnu::noinline]] bool OpenRedis(const Config& cfg,
                                              const BackendOptions& options,
                                              Error* err);
  // The local store in dir_, opened now if it is not yet (nullptr with
  // *err set when it cannot be opened).
  Store* OpenLocalStore(std::string* err);
  // Makes `store` (may be nullptr) the local store, sharing one wait
  // budget for one_step_.
  void SetLocalStore(std::unique_ptr<LocalStore> store);

  std::string dir_;
  bool one_step_ = false;  // BackendOptions::one_step.
  std::unique_ptr<RedisConnection> own_redis_;
  RedisConnection* step_redis_ = nullptr;  // Its step ends with the Backend.
  std::unique_ptr<Store> redis_store_;     // When the fallback wraps it.
  std::unique_ptr<Store> local_store_;     // The store, or Redis's fallback.
  FallbackStore* fallback_ = nullptr;      // store_ when it is one.
  std::unique_ptr<Store> store_;           // Redis (or the fallback).
  std::unique_ptr<JournalWriter> log_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_BACKEND_H_
