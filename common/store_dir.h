// The local state directory (store.dir) and its subjects/ directory, opened
// and checked once (doc/DESIGN.md §9): both created 0700 when missing, both
// owned by the effective uid and not writable by group or others, subjects/
// never followed if it is a symlink. The local store's record files and
// the attempt journal are opened relative to these descriptors.
//
// One Backend (one PAM step or CLI command) opens it once for the local
// store and the journal. It is not kept across steps: a descriptor kept in
// a PAM handle could be closed and its number reused by the host program,
// and the directory replaced meanwhile.
#ifndef PAM_DEFENDER_COMMON_STORE_DIR_H_
#define PAM_DEFENDER_COMMON_STORE_DIR_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/error.h"

namespace defender {

// The record files' directory under store.dir.
inline constexpr char kSubjectsDir[] = "subjects";
// In kSubjectsDir: the random SipHash key (kStoreKeyBytes) of the record
// file names too long to be plain (subject_record.h).
inline constexpr char kKeyFile[] = ".key";
inline constexpr int kStoreKeyBytes = 16;

// Opens `dir` (a symlink is followed) O_PATH|O_CLOEXEC, creating it 0700
// (whatever the umask) if missing, and checks it as StoreDir::Open does.
// -1 with *err set as StoreDir::Open says on failure. For the journal of a
// Redis store, which needs store.dir but not subjects/.
int OpenStateDir(const std::string& dir, Error* err);

class StoreDir {
 public:
  // Opens `dir` (an absolute path; a symlink is followed) and `dir`/
  // subjects, creating each (0700) if missing. nullptr with *err set on
  // failure: kNotFound or kPermission (cannot be created or opened, e.g. not
  // run as root), kCorrupt (not a directory, a symlink where none may be,
  // or not trusted).
  static std::shared_ptr<StoreDir> Open(const std::string& dir, Error* err);

  // For Open alone (through std::make_shared: one allocation).
  class Token {
    friend class StoreDir;
    explicit Token() = default;
  };
  StoreDir(Token, std::string path, int fd, int subjects_fd, uid_t euid);
  ~StoreDir();
  StoreDir(const StoreDir&) = delete;
  StoreDir& operator=(const StoreDir&) = delete;

  const std::string& path() const { return path_; }
  // O_PATH descriptors (O_CLOEXEC), open while the StoreDir lives.
  int fd() const { return fd_; }
  int subjects_fd() const { return subjects_fd_; }
  // The effective uid when it was opened, which owns the directories and
  // must own the files in them (CheckTrusted). It does not change while a
  // step or command uses the store.
  uid_t euid() const { return euid_; }

 private:
  std::string path_;
  int fd_;
  int subjects_fd_;
  uid_t euid_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_STORE_DIR_H_
