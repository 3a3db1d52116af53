// Opens what one PAM call or CLI command needs, as the config says: the
// store (SQLite or Redis) and the local attempt log. Everything opened here
// is closed when the Backend is destroyed: nothing outlives the call, so
// nothing is carried across fork().
#ifndef PAM_DEFENDER_COMMON_BACKEND_H_
#define PAM_DEFENDER_COMMON_BACKEND_H_

#include <memory>
#include <string>

#include "common/attempt_log.h"
#include "common/config.h"
#include "common/sqlite_db.h"
#include "common/store.h"

namespace defender {

// How long a login waits for another process's SQLite write lock.
inline constexpr int kSqliteBusyTimeoutMs = 5000;

class Backend {
 public:
  // Opens the configured store and, if attempts.store, the attempt log.
  // Returns nullptr with *err set when the store cannot be opened.
  static std::unique_ptr<Backend> Open(const Config& cfg, std::string* err);

  Store* store() const { return store_.get(); }
  // The local attempt log, or nullptr when attempts.store is false.
  SqliteAttemptLog* attempt_log() const { return log_.get(); }
  // The local database, or nullptr when neither the store nor the attempt
  // log needs it.
  SqliteDb* local_db() const { return db_.get(); }

 private:
  Backend() = default;

  std::unique_ptr<SqliteDb> db_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<SqliteAttemptLog> log_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_BACKEND_H_
