#include "common/trusted_file.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace defender {

int StatWithoutTimes(int dirfd, const char* path, int flags, struct stat* st) {
  constexpr unsigned kMask = STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_UID |
                             STATX_GID | STATX_INO | STATX_SIZE;
  struct statx x;
  // Through syscall(), which the module imports already: one import less
  // for the loader to bind in every login.
  if (syscall(SYS_statx, dirfd, path, flags, kMask, &x) == 0) {
    if ((x.stx_mask & kMask) == kMask) {
      *st = {};
      st->st_dev = makedev(x.stx_dev_major, x.stx_dev_minor);
      st->st_ino = x.stx_ino;
      st->st_mode = x.stx_mode;
      st->st_nlink = x.stx_nlink;
      st->st_uid = x.stx_uid;
      st->st_gid = x.stx_gid;
      st->st_size = static_cast<off_t>(x.stx_size);
      return 0;
    }
  } else if (errno != ENOSYS && errno != EPERM && errno != EINVAL) {
    return -1;
  }
  return fstatat(dirfd, path, st, flags);
}

namespace {

// Why `st` fails the check: kept out of the code every login runs (cold).
[[gnu::cold, gnu::noinline]] std::string Untrusted(const LazyPath& path,
                                                   bool dir, uid_t euid,
                                                   const struct stat& st) {
  if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
    return path.str() + ": untrusted store: not a " +
           (dir ? "directory" : "regular file");
  }
  char mode[8];
  snprintf(mode, sizeof mode, "%04o",
           static_cast<unsigned>(st.st_mode & 07777));
  return path.str() + ": untrusted store: owned by uid " +
         std::to_string(st.st_uid) + " with mode " + mode +
         " (must be owned by uid " + std::to_string(euid) +
         " and not writable by group or others)";
}

}  // namespace

bool CheckTrusted(int fd, const LazyPath& path, bool dir, uid_t euid,
                  struct stat* st, std::string* err) {
  if (StatWithoutTimes(fd, "", AT_EMPTY_PATH, st) != 0) {
    *err = ErrnoMessage(path.str(), "cannot stat");
    return false;
  }
  if ((dir ? S_ISDIR(st->st_mode) : S_ISREG(st->st_mode)) &&
      st->st_uid == euid && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0) {
    return true;
  }
  *err = Untrusted(path, dir, euid, *st);
  return false;
}

bool CheckTrusted(int fd, const LazyPath& path, bool dir, std::string* err) {
  struct stat st;
  return CheckTrusted(fd, path, dir, geteuid(), &st, err);
}

}  // namespace defender
