// The Store on this machine's disk (the default backend): one small record
// file per subject under <dir>/subjects/, the way pam_faillock keeps one
// tally file per user (doc/DESIGN.md §9). No library, no database: a login
// step opens the files of its subjects, locks them, reads, writes and
// closes them.
//
// Each multi-subject step locks its subjects' files with flock(LOCK_EX) in
// one order (no deadlock): by file name, but a pair's file last (a step has
// one pair at most), once U's record, read under its lock, has said whether
// the pair counts, and only tried: held by another, the step lets go of all
// and starts again (doc/DESIGN.md §9), checking after each lock that the name
// still leads to the locked file (it may have been unlinked meanwhile), then
// reads, decides with store_logic.h, writes and closes. A subject left with
// nothing that matters (no live counter or block, no history) keeps its
// file, holding an empty record, until Prune (defenderctl cleanup) or an
// administrator's Unblock, UnblockAll or Forget unlinks it under the lock:
// the next failure of the same subject, common in a login's life, then
// finds its file. Get takes no lock (its files' records are read as List
// reads them, below) and creates nothing: a reader never waits for a
// writer, not even one that is stopped. RecordSuccess and Unblock create
// nothing for a subject with no file.
//
// A user's remembered hosts (doc/DESIGN.md §3.14) live in the user's record
// (subject_record.h), so that a step with a pair U@H locks U's file too and
// reads the list in the same step; a user record holding only remembered
// hosts stays while one is remembered, and List does not show it. A pair
// is a subject file of its own (kind 'p').
// List, Stats, Prune and UnblockAll read the directory without locks (a
// record's two slots give a consistent read, subject_record.h) and lock one
// file at a time for what they change. The lock waits of one call
// (GetForDecision, RecordFailure or RecordSuccess, which may let go of its
// locks, wait for one alone and start again; Get, Block, Unblock, Forget)
// last at most `lock_timeout_ms` together, or those of all the calls of a
// PAM step (ShareWaitBudget), those of UnblockAll at most that per file (a
// process holding a lock may be stopped): then the call fails with a store
// error (lock_timed_out()).
//
// Nothing is synced: a crash of the process loses nothing written; a power
// loss can lose the last updates of a subject (a torn write leaves the
// record before it).
#ifndef PAM_DEFENDER_COMMON_LOCAL_STORE_H_
#define PAM_DEFENDER_COMMON_LOCAL_STORE_H_

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/lazy_path.h"
#include "common/lock_wait.h"
#include "common/siphash.h"
#include "common/store.h"
#include "common/store_dir.h"
#include "common/subject_record.h"

namespace defender {

class LocalStore final : public Store {
 public:
  // Opens the store in `dir` (StoreDir::Open: `dir` and `dir`/subjects are
  // created if missing and checked, *err set as it says). Every record file
  // a method opens must be owned by the effective uid, not writable by
  // group or others, at most kRecordFileMaxBytes long, and is never
  // followed if it is a symlink.
  static std::unique_ptr<LocalStore> Open(const std::string& dir,
                                          int lock_timeout_ms, Error* err);
  // The same, for callers that only report the message.
  static std::unique_ptr<LocalStore> Open(const std::string& dir,
                                          int lock_timeout_ms,
                                          std::string* err);
  // The store in directories already opened (a PAM handle's, reused).
  static std::unique_ptr<LocalStore> Open(std::shared_ptr<StoreDir> dir,
                                          int lock_timeout_ms);
  ~LocalStore() override;
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  const std::string& dir() const { return store_dir_->path(); }

  bool Get(std::span<const Subject> subjects, int64_t now,
           std::vector<SubjectState>* out, std::string* err) override;
  // Opens no pair file when U's record does not remember H.
  bool GetForDecision(std::span<const Subject> subjects, int64_t now,
                      std::vector<SubjectState>* out,
                      std::string* err) override;
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

  // Whether a call has failed because a record's lock was held past the
  // lock timeout all along (its holder stopped or frozen): the module then
  // refuses the attempt instead of following the failure policy, since an
  // attempt it allowed uncounted could be a free guess (doc/DESIGN.md
  // §3.13).
  bool lock_timed_out() const { return lock_timed_out_; }

  // From now on all calls share one budget of lock_timeout_ms for their
  // lock waits (started by the first busy lock): for the life of a store
  // opened for one PAM step, whose preauth or account step may make two
  // calls (GetForDecision, then RecordFailure or RecordSuccess). Without
  // it each call has a budget of its own.
  void ShareWaitBudget() { share_waits_ = true; }
  bool shares_wait_budget() const { return share_waits_; }

 private:
  // One locked record file of a step.
  struct Held {
    std::string file;
    int fd = -1;  // -1: absent (a step that creates nothing).
    SubjectRecord rec;
    int slot = -1;  // Of the record read; -1: none valid.
    bool dirty = false;
    bool locked = false;  // LOCK_EX by the step, or LOCK_SH taken by Read.
  };
  class HeldSet;
  // Called with a record file's name and its record read lock-free
  // (nullptr when the file holds no valid record of the subject it names).
  using Visit = std::function<bool(const std::string& file,
                                   const SubjectRecord* rec, std::string* err)>;

  LocalStore(std::shared_ptr<StoreDir> dir, int lock_timeout_ms);

  void StartCall() {
    if (!share_waits_) waits_ = WaitBudget(lock_timeout_ms_);
    call_waited_from_ = waits_.waited();
  }
  // The time a call was given (`now`, read by its caller before the call),
  // moved on by the whole seconds its lock waits have lasted so far: what
  // it decides and writes once it holds its locks is decided at the time
  // it got them, not up to lock_timeout_ms before (a block would end, and
  // a record be taken for live, that much early). `now` itself when
  // nothing waited, without reading a clock.
  int64_t AfterWaits(int64_t now) const {
    return MovedOnBy(now, waits_.waited() - call_waited_from_);
  }

  int subjects_fd() const { return store_dir_->subjects_fd(); }
  LazyPath PathOf(const std::string& file) const;
  // The file name of `s`. A name hashed under the store's key needs the
  // key: made if missing when `create_key`; else, with no key yet, no such
  // file can exist, and the name given (under a key of zeros) is absent.
  bool FileName(const Subject& s, bool create_key, std::string* out,
                std::string* err);
  // Loads the store's key (key_), making it when missing and `create`;
  // without `create`, a missing key leaves key_ empty and is no error.
  bool LoadKey(bool create, std::string* err);
  // Opens `file` (creating it 0600 with `create`) and checks it. With
  // `write`, opens it read-write and locks it LOCK_EX, until the lock is on
  // the file the name leads to; without, it is opened read-only and not
  // locked (a lock-free read: one slot is always whole). *fd = -1 when it
  // is absent and not `create`.
  // The lock is waited for at most `timeout_ms`; when that runs out,
  // *timed_out (if given) is set as well as *err. With `busy` (and
  // `write`), the lock is only tried: held by another, the file is closed
  // and false returned with *busy set and *err untouched.
  bool OpenLocked(const std::string& file, bool create, bool write,
                  WaitBudget* waits, int* fd, std::string* err,
                  bool* timed_out = nullptr, bool* busy = nullptr);
  // Which kinds of subject a step creates a record file for when missing.
  struct Create {
    bool users = false;
    bool hosts = false;
    bool pairs = false;
    static Create All() { return {true, true, true}; }
    bool Of(SubjectKind kind) const;
  };
  // Opens (and with `write` locks) the files of `subjects` in name order;
  // (*held)[i] is subject i's (subjects with the same file share one, read
  // once).
  bool Lock(std::span<const Subject> subjects, Create create, bool write,
            HeldSet* held, std::string* err);
  // Whether LockStates opens the file of a pair U@H whose host U's record
  // does not remember (an exempt pair, which decides nothing).
  enum class ExemptPair { kRead, kUnread };
  // Locks the files of `subjects` as Lock does, and, when they include a
  // pair U@H, U's file, and sets (*states)[i] to subject i's state at `now`
  // marked exempt from U's remembered hosts (MarkExempt). *user is U's
  // entry, nullptr without a pair. The pair's file is opened (and locked)
  // after all the others, once U's record is read: with kUnread, only when
  // it remembers H; else the pair's entry has no file (fd -1, no name) and
  // reads as empty. *restarts counts the step's restarts (WaitAlone): one
  // count for the whole step, whichever loop restarts it.
  bool LockStates(std::span<const Subject> subjects, Create create, bool write,
                  ExemptPair exempt_pair, int64_t now, HeldSet* held,
                  std::vector<SubjectState>* states, Held** user, int* restarts,
                  std::string* err);
  // Names, opens (creating it with `create`; with `write` locking it) and
  // reads the file of `subject` into *h, as Lock does for each of its, for
  // a pair's file taken while the step holds others. Its lock is only
  // tried: a step of an older version, which took the pair's lock by name
  // order, may hold it and wait for one of ours. Held by another, false
  // with *busy set: the caller releases all it holds, waits for the pair's
  // lock alone (WaitAlone) and starts the step again, so that no order of
  // locks can deadlock, but only wait a while.
  bool LockLast(const Subject& subject, bool create, bool write, Held* h,
                bool* busy, std::string* err);
  // Waits, holding nothing else, until `file` can be locked, then unlocks
  // it; true also when it is gone, and *restarts is one more. After
  // kMaxRestarts restarts of one step, fails as a lock timeout does
  // (lock_timed_out()).
  bool WaitAlone(const std::string& file, int* restarts, std::string* err);
  // Reads h's record: absent, garbage or not `expect`'s reads as empty. A
  // file read without a lock that holds bytes but no whole slot (two
  // writes landed while it was read, or it is damaged) is read again, and
  // then under LOCK_SH, before it is taken for empty.
  bool Read(Held* h, const Subject* expect, WaitBudget* waits,
            std::string* err);
  // Ends a step on `h`: with `remove_empty`, unlinks the file when the
  // record is empty (history at or before `history_since` forgotten); else
  // writes it if dirty, with the remembered hosts that do not fit its slot
  // dropped (FitRemembered). Login steps keep files they emptied (an
  // unlinked file would be created again by the next failure, and creating
  // a file costs more than the rest of a step; the administrator's calls
  // remove them), but not one that held no record and that they did not
  // write (created by a refused step, or garbage): that one goes.
  bool Finish(Held* h, int64_t now, int64_t history_since, bool remove_empty,
              std::string* err);
  // Calls `visit` for each record file in the directory, one call at a
  // time, stopping at the first that returns false (with *err set) or at
  // the first file that cannot be read (*err names it). With `readers`
  // above 1 the files are opened, checked, read and decoded on that many
  // threads at once (RunParallel; only where the program installed a
  // runner), and the visits, still one at a time, come from any of them in
  // no set order. The file named is still the first unreadable one in
  // directory order, and every file before it is visited; some after it
  // may be visited too (only readers whose visits change nothing, as
  // List's, use more than one). An exception from `visit` stops every
  // reader and reaches the caller.
  bool ForEach(const Visit& visit, std::string* err, int readers = 1);
  // Locks `file` alone (waiting at most `timeout_ms`; *timed_out as
  // OpenLocked), reads it, lets `change` update the record (true when it
  // did), and finishes it (Finish, with `remove_empty`). `change` and
  // Finish are given `now` moved on by the whole seconds this call waited
  // (as AfterWaits does), and the wait is added to *waited (when given).
  bool Update(const std::string& file, int64_t now, int64_t history_since,
              bool remove_empty, int timeout_ms,
              const std::function<bool(SubjectRecord*, int64_t now)>& change,
              std::string* err, bool* timed_out,
              std::chrono::steady_clock::duration* waited = nullptr);

  std::shared_ptr<StoreDir> store_dir_;
  int lock_timeout_ms_;
  // The lock waits of the current call (Get, GetForDecision, RecordFailure,
  // RecordSuccess, Block, Unblock, Forget), together: each call starts it
  // anew (StartCall), so that a step that lets go of its locks and starts
  // again waits at most lock_timeout_ms in all, not that much per lock;
  // or of every call, after ShareWaitBudget().
  WaitBudget waits_;
  bool share_waits_ = false;
  // waits_.waited() when the current call started (AfterWaits).
  std::chrono::steady_clock::duration call_waited_from_{};
  bool lock_timed_out_ = false;
  std::optional<SipKey> key_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_LOCAL_STORE_H_
