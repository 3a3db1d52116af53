// The Store on the local SQLite database (the default backend). Each method
// runs in one BEGIN IMMEDIATE transaction (or joins the caller's), so
// concurrent logins in other processes are serialised by SQLite's lock and
// no count is lost.
#ifndef PAM_DEFENDER_COMMON_SQLITE_STORE_H_
#define PAM_DEFENDER_COMMON_SQLITE_STORE_H_

#include <optional>

#include "common/sqlite_db.h"
#include "common/store.h"
#include "common/store_logic.h"

namespace defender {

class SqliteStore final : public Store {
 public:
  // `db` must outlive the store.
  explicit SqliteStore(SqliteDb* db) : db_(db) {}

  bool Get(std::span<const Subject> subjects, int64_t now,
           std::vector<SubjectState>* out, std::string* err) override;
  bool RecordFailure(std::span<const FailureRequest> requests, RefusalRule rule,
                     FailureMode mode, const LockoutParams& params, int64_t now,
                     std::vector<FailureOutcome>* out, bool* refused,
                     std::string* err) override;
  bool RecordSuccess(std::span<const Subject> subjects,
                     std::span<const bool> reset, RefusalRule rule,
                     int64_t remember_seconds, int64_t now,
                     std::vector<SubjectState>* before, bool* refused,
                     std::string* err) override;
  bool Block(const Subject& subject, int64_t until, int64_t now,
             std::string* err) override;
  bool Unblock(const Subject& subject, int64_t now, bool* was_blocked,
               std::string* err) override;
  bool UnblockAll(int64_t now, std::vector<Subject>* cleared,
                  std::string* err) override;
  bool List(int64_t now, bool blocked_only, std::vector<StoreEntry>* out,
            std::string* err) override;
  bool Stats(int64_t now, int64_t history_seconds, StoreStats* out,
             std::string* err) override;
  bool ListRemembered(int64_t now, std::vector<RememberedEntry>* out,
                      std::string* err) override;
  bool Forget(const std::string& user, const std::optional<std::string>& host,
              int64_t now, int64_t* removed, std::string* err) override;
  bool Prune(int64_t now, int64_t history_seconds, int64_t* removed,
             std::string* err) override;

 private:
  bool Read(const Subject& s, std::optional<StoredRecord>* out,
            std::string* err);
  bool Write(const Subject& s, const StoredRecord& r, std::string* err);
  bool Erase(const Subject& s, std::string* err);
  bool AddHistory(const Subject& s, int64_t now, int64_t until,
                  std::string* err);
  // The remembered list of `user` (expired entries included) / replaces it.
  bool LoadRemembered(const std::string& user, RememberedList* out,
                      std::string* err);
  bool SaveRemembered(const std::string& user, const RememberedList& list,
                      std::string* err);
  bool CountHistory(const Subject& s, int64_t since, int64_t* count,
                    std::string* err);

  SqliteDb* db_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_SQLITE_STORE_H_
