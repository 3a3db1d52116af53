#include "common/trusted_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/error.h"

namespace defender {

bool CheckTrusted(int fd, const LazyPath& path, bool dir, uid_t euid,
                  struct stat* st, std::string* err) {
  if (fstat(fd, st) != 0) {
    *err = ErrnoMessage(path.str(), "cannot stat");
    return false;
  }
  if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
    *err = path.str() + ": untrusted store: not a " +
           (dir ? "directory" : "regular file");
    return false;
  }
  if (st->st_uid == euid && (st->st_mode & (S_IWGRP | S_IWOTH)) == 0) {
    return true;
  }
  char mode[8];
  snprintf(mode, sizeof mode, "%04o",
           static_cast<unsigned>(st->st_mode & 07777));
  *err = path.str() + ": untrusted store: owned by uid " +
         std::to_string(st->st_uid) + " with mode " + mode +
         " (must be owned by uid " + std::to_string(euid) +
         " and not writable by group or others)";
  return false;
}

bool CheckTrusted(int fd, const LazyPath& path, bool dir, std::string* err) {
  struct stat st;
  return CheckTrusted(fd, path, dir, geteuid(), &st, err);
}

}  // namespace defender
