// A test double (doc/DESIGN.md §1): an in-process Store for unit tests of
// the policy and of the store contract. Not shared between
// processes; follows the Store contract exactly.
#ifndef DEFENDER_TESTS_SUPPORT_MEMORY_STORE_H_
#define DEFENDER_TESTS_SUPPORT_MEMORY_STORE_H_

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/store.h"
#include "common/store_logic.h"

namespace defender {

class MemoryStore final : public Store {
 public:
  bool Get(std::span<const Subject> subjects, int64_t now,
           std::vector<SubjectState>* out, std::string* err) override;
  bool RecordFailure(std::span<const FailureRequest> requests, RefusalRule rule,
                     FailureMode mode, const LockoutParams& params, int64_t now,
                     std::vector<FailureOutcome>* out, bool* refused,
                     std::string* err) override;
  bool RecordSuccess(std::span<const Subject> subjects,
                     std::span<const bool> reset,
                     std::span<const Generation> take_back, RefusalRule rule,
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

  // For tests that inject store failures: when set, every call fails.
  void set_failing(bool failing) { failing_ = failing; }
  // When failing, each call takes this long before it fails (a Redis call
  // that times out).
  void set_fail_after(std::chrono::milliseconds d) { fail_after_ = d; }
  // When set, a Get that names `name` (of any kind) fails, as a damaged
  // record file fails only its own subject's reads.
  void set_unreadable(std::string name) { unreadable_ = std::move(name); }

 private:
  using Key = std::pair<SubjectKind, std::string>;
  static Key KeyOf(const Subject& s) { return {s.kind, s.name}; }
  std::optional<StoredRecord> Find(const Subject& s) const;
  int64_t BlocksSince(const Subject& s, int64_t since) const;
  bool Fail(std::string* err) const;

  std::map<Key, StoredRecord> records_;
  std::map<Key, std::vector<int64_t>> history_;
  std::map<std::string, RememberedList> remembered_;  // By user.
  bool failing_ = false;
  std::chrono::milliseconds fail_after_{0};
  std::optional<std::string> unreadable_;
};

}  // namespace defender

#endif  // DEFENDER_TESTS_SUPPORT_MEMORY_STORE_H_
