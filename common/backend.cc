#include "common/backend.h"

#include "common/sqlite_store.h"

namespace defender {

std::unique_ptr<Backend> Backend::Open(const Config& cfg, std::string* err) {
  std::unique_ptr<Backend> b(new Backend());
  if (cfg.backend == StoreBackend::kRedis) {
    *err = "store.backend = \"redis\" is not available in this build";
    return nullptr;
  }
  b->db_ = SqliteDb::Open(cfg.path, kSqliteBusyTimeoutMs, err);
  if (!b->db_) return nullptr;
  b->store_ = std::make_unique<SqliteStore>(b->db_.get());
  if (cfg.attempts_store) {
    b->log_ = std::make_unique<SqliteAttemptLog>(b->db_.get());
  }
  return b;
}

}  // namespace defender
