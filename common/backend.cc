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

void Backend::SetLocalStore(std::unique_ptr<LocalStore> store) {
  if (store && one_step_) store->ShareWaitBudget();
  local_store_ = std::move(store);
}

Store* Backend::OpenLocalStore(std::string* err) {
  if (!local_store_) {
    SetLocalStore(LocalStore::Open(dir_, kLocalLockTimeoutMs, err));
  }
  return local_store_.get();
}

const LocalStore* Backend::local_store() const {
  // local_store_ is only ever made by LocalStore::Open (SetLocalStore).
  return static_cast<const LocalStore*>(local_store_.get());
}

bool Backend::lock_timed_out() const {
  return local_store() != nullptr && local_store()->lock_timed_out();
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
  b->one_step_ = options.one_step;
  // The local store and the journal share its directories, checked once.
  std::shared_ptr<StoreDir> dir;
  if (cfg.backend == StoreBackend::kRedis) {
    if (!b->OpenRedis(cfg, options, err)) return nullptr;
  } else {
    dir = StoreDir::Open(cfg.dir, err);
    if (!dir) return nullptr;
    b->SetLocalStore(LocalStore::Open(dir, kLocalLockTimeoutMs));
  }
  if (cfg.attempts_store) {
    // With Redis the journal opens its directory when it first appends.
    b->log_ = dir ? std::make_unique<JournalWriter>(dir)
                  : std::make_unique<JournalWriter>(cfg.dir);
  }
  return b;
}

bool Backend::OpenRedis(const Config& cfg, const BackendOptions& options,
                        Error* err) {
  if (!RedisStore::ValidPrefix(cfg.key_prefix, &err->message)) {
    err->kind = ErrorKind::kCorrupt;
    return false;
  }
  dir_ = cfg.dir;  // For the local fallback store.
  RedisConnection* conn = options.redis;
  if (conn == nullptr) {
    own_redis_ =
        std::make_unique<RedisConnection>(RedisSettings::FromConfig(cfg));
    conn = own_redis_.get();
  }
  if (options.one_step) {
    conn->StartStep();
    step_redis_ = conn;
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
  if (options.local_fallback && cfg.redis_on_error == OnError::kLocal) {
    redis_store_ = std::move(redis_store);
    auto f = std::make_unique<FallbackStore>(
        redis_store_.get(),
        [this](std::string* e) { return OpenLocalStore(e); });
    fallback_ = f.get();
    store_ = std::move(f);
  } else {
    store_ = std::move(redis_store);
  }
  return true;
}

std::string Backend::fallback_reason() const {
  return fallback_ && fallback_->secondary_used() ? fallback_->primary_error()
                                                  : std::string();
}

}  // namespace defender
