// The attempt journal (doc/DESIGN.md §3.10, §9): the module appends one
// record per attempt to <dir>/attempts.journal, as login(1) appends to
// btmp, and never opens SQLite for it; defenderctl moves the journal into
// the SQLite archive (archive.h) before it reads the attempt log.
#ifndef PAM_DEFENDER_COMMON_JOURNAL_H_
#define PAM_DEFENDER_COMMON_JOURNAL_H_

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/attempt_log.h"
#include "common/config.h"
#include "common/store_dir.h"

namespace defender {

// The journal's file name in the state directory.
inline constexpr char kJournalName[] = "attempts.journal";

// The directory part of `path` ("." when it has none, "/" for "/x").
std::string ParentDir(const std::string& path);

// Appends attempts to <dir>/attempts.journal. The directory is created
// (0700, one level) when missing and checked as the local store's is
// (OpenStateDir, store_dir.h); the journal must pass the same trust check
// (trusted_file.h). Each record goes out in one write(2) on an
// O_APPEND descriptor, under flock(LOCK_SH): appenders never wait for one
// another, and the archive's ingester, which renames the journal away and
// then takes LOCK_EX on it, waits only for appends already under way.
// Before writing, the writer checks that the name still leads to the file
// it opened (else it reopens the name); it never waits for the ingester (a
// journal the ingester holds has been renamed, so it reopens the name).
class JournalWriter final : public AttemptLog {
 public:
  // Beyond this size a journal takes no more records: Append drops them
  // and says so. An attacker who floods logins fills at most this much
  // disk between two ingests (`defenderctl cleanup`, daily by default).
  static constexpr int64_t kMaxBytes = int64_t{64} << 20;

  explicit JournalWriter(std::string dir, int64_t max_bytes = kMaxBytes)
      : dir_(std::move(dir)), max_bytes_(max_bytes) {}
  // In a directory already opened and checked (the local store's).
  explicit JournalWriter(std::shared_ptr<StoreDir> dir,
                         int64_t max_bytes = kMaxBytes)
      : max_bytes_(max_bytes),
        store_dir_(std::move(dir)),
        dir_fd_(store_dir_->fd()) {}
  ~JournalWriter() override;
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Appends the record of `a` (fields cut as EncodeRecord does). False with
  // *err set when it cannot be written, or is dropped because the journal
  // holds max_bytes already.
  bool Append(const Attempt& a, std::string* err) override;

 private:
  // Opens (creating) the directory and journal and checks them.
  bool Open(std::string* err);
  void Close();
  // With fd_ open: locks it shared and checks that the name still leads to
  // it (*st is then the status of what the name leads to: its size is the
  // locked file's). False, with the lock released, when it does not or the
  // ingester holds it (reopen the name), or with *failed and *err set when
  // the lock fails.
  bool LockCurrent(struct stat* st, std::string* err, bool* failed);

  // The directory's path, for errors and for opening it.
  const std::string& dir() const {
    return store_dir_ ? store_dir_->path() : dir_;
  }

  std::string dir_;  // When no StoreDir is given.
  int64_t max_bytes_;
  std::shared_ptr<StoreDir> store_dir_;  // When given; owns dir_fd_ then.
  int dir_fd_ = -1;
  int fd_ = -1;
  dev_t dev_ = 0;  // Of fd_, from the check that opened it.
  ino_t ino_ = 0;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_JOURNAL_H_
