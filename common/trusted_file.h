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
// *st to its StatWithoutTimes. False with *err naming `path` and what is wrong.
bool CheckTrusted(int fd, const LazyPath& path, bool dir, uid_t euid,
                  struct stat* st, std::string* err);
// fstatat(dirfd, path, st, flags) without the times: st_atim, st_mtim and
// st_ctim (and st_blocks, st_blksize, st_rdev) are zero. It asks statx for
// the other fields only, so that the kernel does not mark the file's times
// as read: after a stat that reads them, the next write of the file must
// give it a fine-grained change time, and so writes its inode, where
// otherwise only the first write in a clock tick does (multigrain
// timestamps, Linux 6.13). Falls back to fstatat where statx is missing or
// refused (ENOSYS, EPERM, EINVAL) or leaves a field out. Returns 0, or -1
// with errno set.
int StatWithoutTimes(int dirfd, const char* path, int flags, struct stat* st);
// The same, owned by geteuid(), without the stat.
bool CheckTrusted(int fd, const LazyPath& path, bool dir, std::string* err);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_TRUSTED_FILE_H_
