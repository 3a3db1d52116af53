#include "common/backend.h"

#include <unistd.h>

#include "common/lazy_libc.h"
#include "common/local_store.h"
#include "common/redis_conn.h"
#include "common/redis_fallback_store.h"
#include "common/redis_store.h"
#include "common/store_dir.h"

namespace defender {

Backend::~Backend() {
  if (step_redis_) step_redis_->EndStep();
}

Store* Backend::OpenLocalStore(std::string* err) {
  if (!local_store_) {
    local_store_ = LocalStore::Open(dir_, kLocalLockTimeoutMs, err);
  }
  return local_store_.get();
}

bool Backend::lock_timed_out() const {
  // local_store_ is only ever made by LocalStore::Open.
  return local_store_ &&
         static_cast<const LocalStore*>(local_store_.get())->lock_timed_out();
}

std::unique_ptr<Backend> Backend::Open(const Config& cfg, std::string* err) {
  return Open(cfg, BackendOptions{}, err);
}

std::unique_ptr<Backend> Backend::Open(const Config& cfg,
                                       const BackendOptions& options,
                                       std::string* err) {
  Error e;
  std::unique_ptr<Backend> b = Open(cfg, options, &e);
  if (!b) *err = std::move(e.message);
  return b;
}

std::unique_ptr<Backend> Backend::Open(const Config& cfg,
                                       const BackendOptions& options,
                                       Error* err) {
  std::unique_ptr<Backend> b(new Backend());
  const bool redis = cfg.backend == StoreBackend::kRedis;
  const bool fallback =
      redis && options.local_fallback && cfg.redis_on_error == OnError::kLocal;
  if (redis && !RedisStore::ValidPrefix(cfg.key_prefix, &err->message)) {
    err->kind = ErrorKind::kCorrupt;
    return nullptr;
  }
  // The local store and the journal share its directories, checked once.
  std::shared_ptr<StoreDir> dir;
  if (!redis) {
    dir = StoreDir::Open(cfg.dir, err);
    if (!dir) return nullptr;
    b->local_store_ = LocalStore::Open(dir, kLocalLockTimeoutMs);
  }
  if (redis) {
    b->dir_ = cfg.dir;  // For the local fallback store.
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
      if (lazy::gethostname(name, sizeof name - 1) == 0) ro.origin_host = name;
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
  if (cfg.attempts_store) {
    // With Redis the journal opens its directory when it first appends.
    b->log_ = dir ? std::make_unique<JournalWriter>(dir)
                  : std::make_unique<JournalWriter>(cfg.dir);
  }
  return b;
}

std::string Backend::fallback_reason() const {
  return fallback_ && fallback_->secondary_used() ? fallback_->primary_error()
                                                  : std::string();
}

}  // namespace defender
