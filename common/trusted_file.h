// The trust check of the local state (doc/DESIGN.md §9): a directory or file
// is used only if it is owned by the effective uid and not writable by group
// or others, checked on a descriptor opened without following symlinks.
#ifndef PAM_DEFENDER_COMMON_TRUSTED_FILE_H_
#define PAM_DEFENDER_COMMON_TRUSTED_FILE_H_

#include <sys/stat.h>
#include <sys/types.h>

#include <string>

#include "common/lazy_path.h"

namespace defender {

// Checks the open descriptor `fd` of `path`: a directory when `dir`, else a
// regular file; owned by `euid` (the caller's effective uid, which it may
// have read once for several files); not writable by group or others. Sets
// *st to its fstat. False with *err naming `path` and what is wrong.
bool CheckTrusted(int fd, const LazyPath& path, bool dir, uid_t euid,
                  struct stat* st, std::string* err);
// The same, owned by geteuid(), without the stat.
bool CheckTrusted(int fd, const LazyPath& path, bool dir, std::string* err);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_TRUSTED_FILE_H_
