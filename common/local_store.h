// The Store on this machine's disk (the default backend): one small record
// file per subject under <dir>/subjects/, the way pam_faillock keeps one
// tally file per user (doc/DESIGN.md §9). No library, no database: a login
// step opens the files of its subjects, locks them, reads, writes and
// closes them.
//
// Each multi-subject step locks its subjects' files with flock(LOCK_EX) in
// file-name order (no deadlock), checking after each lock that the name
// still leads to the locked file (it may have been unlinked meanwhile), then
// reads, decides with store_logic.h, writes and closes. A subject left with
// nothing that matters (no live counter or block, no history) loses its
// file, unlinked under the lock. Get takes LOCK_SH and creates nothing;
// RecordSuccess and Unblock create nothing for a subject with no file.
// List, Stats, Prune and UnblockAll read the directory without locks (a
// record's two slots give a consistent read, subject_record.h) and lock one
// file at a time for what they change. A lock is waited for at most
// `lock_timeout_ms` (a process holding it may be stopped): then the step
// fails with a store error.
//
// Nothing is synced: a crash of the process loses nothing written; a power
// loss can lose the last updates of a subject (a torn write leaves the
// record before it).
#ifndef PAM_DEFENDER_COMMON_LOCAL_STORE_H_
#define PAM_DEFENDER_COMMON_LOCAL_STORE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/siphash.h"
#include "common/store.h"
#include "common/subject_record.h"

namespace defender {

class LocalStore final : public Store {
 public:
  // Opens the store in `dir`, creating `dir` and `dir`/subjects (0700, one
  // level each) if missing. Both must be directories owned by the effective
  // uid and not writable by group or others (doc/DESIGN.md §9); so must
  // every record file a method opens, which must also be at most
  // kRecordFileMaxBytes long and is never followed if it is a symlink.
  // nullptr with *err set on failure: kNotFound or kPermission (the
  // directory cannot be created or opened, e.g. not run as root), kCorrupt
  // (not a directory, a symlink where none may be, or not trusted).
  static std::unique_ptr<LocalStore> Open(const std::string& dir,
                                          int lock_timeout_ms, Error* err);
  // The same, for callers that only report the message.
  static std::unique_ptr<LocalStore> Open(const std::string& dir,
                                          int lock_timeout_ms,
                                          std::string* err);
  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  const std::string& dir() const { return dir_; }

  bool Get(std::span<const Subject> subjects, int64_t now,
           std::vector<SubjectState>* out, std::string* err) override;
  bool RecordFailure(std::span<const FailureRequest> requests, RefusalRule rule,
                     FailureMode mode, const LockoutParams& params, int64_t now,
                     std::vector<FailureOutcome>* out, bool* refused,
                     std::string* err) override;
  bool RecordSuccess(std::span<const Subject> subjects,
                     std::span<const bool> reset, RefusalRule rule, int64_t now,
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
  bool Prune(int64_t now, int64_t history_seconds, int64_t* removed,
             std::string* err) override;

 private:
  // One locked record file of a step.
  struct Held {
    std::string file;
    int fd = -1;  // -1: absent (a step that creates nothing).
    SubjectRecord rec;
    int slot = -1;  // Of the record read; -1: none valid.
    bool dirty = false;
  };
  class HeldSet;
  // Called with a record file's name and its record read lock-free
  // (nullptr when the file holds no valid record of the subject it names).
  using Visit = std::function<bool(const std::string& file,
                                   const SubjectRecord* rec, std::string* err)>;

  LocalStore(std::string dir, int subjects_fd, int lock_timeout_ms);

  std::string PathOf(const std::string& file) const;
  bool FileName(const Subject& s, std::string* out, std::string* err);
  bool LoadKey(bool create, std::string* err);
  // Opens `file` (creating it 0600 with `create`), checks it and locks it
  // (exclusive or shared), until the lock is on the file the name leads to.
  // *fd = -1 when it is absent and not `create`.
  bool OpenLocked(const std::string& file, bool create, bool exclusive, int* fd,
                  std::string* err);
  // Opens and locks the files of `subjects` in name order; (*held)[i] is
  // subject i's (subjects with the same file share one, read once).
  bool Lock(std::span<const Subject> subjects, bool create, bool exclusive,
            HeldSet* held, std::string* err);
  // Reads h's record: absent, garbage or not `expect`'s reads as empty.
  bool Read(Held* h, const Subject* expect, std::string* err);
  // Ends a step on `h`: unlinks the file when the record is empty (history
  // at or before `history_since` forgotten), else writes it if dirty.
  bool Finish(Held* h, int64_t now, int64_t history_since, std::string* err);
  // Calls `visit` for each record file in the directory.
  bool ForEach(const Visit& visit, std::string* err);
  // Locks `file` alone, reads it, lets `change` update the record (true when
  // it did), and finishes it.
  bool Update(const std::string& file, int64_t now, int64_t history_since,
              const std::function<bool(SubjectRecord*)>& change,
              std::string* err);

  std::string dir_;
  int subjects_fd_;
  int lock_timeout_ms_;
  std::optional<SipKey> key_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_LOCAL_STORE_H_
