#include "common/backend.h"

#include <unistd.h>

#include "common/local_store.h"
#include "common/redis_conn.h"
#include "common/redis_fallback_store.h"
#include "common/redis_store.h"

namespace defender {
namespace {

// The attempt log of a lazy_local Backend: opens the local database for
// its first row.
class LazyAttemptLog final : public AttemptLog {
 public:
  LazyAttemptLog(Backend* backend, int64_t max_rows)
      : backend_(backend), max_rows_(max_rows) {}
  bool Append(const Attempt& a, std::string* err) override {
    if (!log_) {
      SqliteDb* db = backend_->OpenLocal(err);
      if (db == nullptr) return false;
      log_ = std::make_unique<SqliteAttemptLog>(db, max_rows_);
    }
    return log_->Append(a, err);
  }

 private:
  Backend* backend_;
  int64_t max_rows_;
  std::unique_ptr<SqliteAttemptLog> log_;
};

}  // namespace

Backend::~Backend() {
  if (step_redis_) step_redis_->EndStep();
}

SqliteDb* Backend::OpenLocal(std::string* err) {
  if (!db_ && uses_local_)
    db_ = SqliteDb::Open(path_, kSqliteBusyTimeoutMs, err);
  if (!db_ && !uses_local_) *err = "no local database in this configuration";
  return db_.get();
}

Store* Backend::OpenLocalStore(std::string* err) {
  if (!local_store_) {
    local_store_ = LocalStore::Open(dir_, kLocalLockTimeoutMs, err);
  }
  return local_store_.get();
}

std::unique_ptr<Backend> Backend::Open(const Config& cfg, std::string* err) {
  return Open(cfg, BackendOptions{}, err);
}

std::unique_ptr<Backend> Backend::Open(const Config& cfg,
                                       const BackendOptions& options,
                                       std::string* err) {
  std::unique_ptr<Backend> b(new Backend());
  const bool redis = cfg.backend == StoreBackend::kRedis;
  const bool fallback =
      redis && options.local_fallback && cfg.redis_on_error == OnError::kLocal;
  if (redis && !RedisStore::ValidPrefix(cfg.key_prefix, err)) return nullptr;
  b->dir_ = cfg.dir;
  b->path_ = cfg.dir + "/" + kAttemptDbName;
  b->uses_local_ = cfg.attempts_store;
  const bool lazy = redis && options.lazy_local;
  // The store first: it creates the directory the attempt log is in.
  if (!redis && !b->OpenLocalStore(err)) return nullptr;
  if (b->uses_local_ && !lazy && !b->OpenLocal(err)) return nullptr;
  if (redis) {
    RedisConnection* conn = options.redis;
    if (conn == nullptr) {
      b->own_redis_ =
          std::make_unique<RedisConnection>(RedisSettings::FromConfig(cfg));
      conn = b->own_redis_.get();
    }
    if (options.redis_one_deadline) {
      conn->StartStep();
      b->step_redis_ = conn;
    }
    RedisStoreOptions ro;
    ro.key_prefix = cfg.key_prefix;
    ro.origin_host = options.origin_host;
    if (ro.origin_host.empty()) {
      char name[256] = {};
      if (gethostname(name, sizeof name - 1) == 0) ro.origin_host = name;
    }
    ro.service = options.service;
    ro.history_seconds = cfg.HistorySeconds();
    ro.server_clock = options.redis_server_clock;
    auto redis_store = std::make_unique<RedisStore>(conn, std::move(ro));
    if (fallback) {
      b->redis_store_ = std::move(redis_store);
      Backend* self = b.get();
      auto f = std::make_unique<FallbackStore>(
          b->redis_store_.get(),
          [self](std::string* e) { return self->OpenLocalStore(e); });
      b->fallback_ = f.get();
      b->store_ = std::move(f);
    } else {
      b->store_ = std::move(redis_store);
    }
  }
  if (cfg.attempts_store && lazy) {
    b->lazy_log_ =
        std::make_unique<LazyAttemptLog>(b.get(), cfg.attempts_max_rows);
  } else if (cfg.attempts_store) {
    b->log_ =
        std::make_unique<SqliteAttemptLog>(b->db_.get(), cfg.attempts_max_rows);
  }
  return b;
}

std::string Backend::fallback_reason() const {
  return fallback_ && fallback_->secondary_used() ? fallback_->primary_error()
                                                  : std::string();
}

Store* Backend::store() const {
  return store_ ? store_.get() : local_store_.get();
}

}  // namespace defender
