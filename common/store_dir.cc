#include "common/store_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/lazy_libc.h"
#include "common/trusted_file.h"

namespace defender {
namespace {

// Creates `name` in `dirfd` 0700 if missing (whatever the umask) and opens
// it O_PATH (so that the check, not the permissions, says why another user
// cannot use it), checked. A symlink is followed only with `follow`. -1
// with *err set on failure.
int OpenDir(int dirfd, const char* name, const LazyPath& path, bool follow,
            uid_t euid, Error* err) {
  const int flags = O_DIRECTORY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW);
  // The directory exists on every step but the first: open it first, and
  // create it only when it is missing.
  int fd = openat(dirfd, name, O_PATH | flags);
  if (fd < 0 && errno == ENOENT) {
    const bool made = lazy::mkdirat(dirfd, name, 0700) == 0;
    if (!made && errno != EEXIST) {
      *err = {KindOfErrno(errno),
              ErrnoMessage(path.str(), "cannot create directory")};
      return -1;
    }
    if (made) {
      const int w = openat(dirfd, name, O_RDONLY | flags);
      const bool ok = w >= 0 && lazy::fchmod(w, 0700) == 0;
      if (!ok) {
        *err = {KindOfErrno(errno), ErrnoMessage(path.str(), "cannot chmod")};
      }
      if (w >= 0) close(w);
      if (!ok) return -1;
    }
    fd = openat(dirfd, name, O_PATH | flags);
  }
  if (fd < 0) {
    // O_NOFOLLOW on a symlink (ELOOP), or not a directory: not usable.
    *err = {errno == ELOOP ? ErrorKind::kCorrupt : KindOfErrno(errno),
            ErrnoMessage(path.str(), "cannot open")};
    return -1;
  }
  struct stat st {};
  if (!CheckTrusted(fd, path, /*dir=*/true, euid, &st, &err->message)) {
    // root's state seen by another user: not run as root, not a bad store.
    err->kind = st.st_uid == 0 && euid != 0 ? ErrorKind::kPermission
                                            : ErrorKind::kCorrupt;
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int OpenStateDir(const std::string& dir, Error* err) {
  return OpenDir(AT_FDCWD, dir.c_str(), dir, /*follow=*/true, geteuid(), err);
}

std::shared_ptr<StoreDir> StoreDir::Open(const std::string& dir, Error* err) {
  if (dir.empty() || dir[0] != '/') {
    *err = {ErrorKind::kCorrupt,
            dir + ": the store directory must be an absolute path"};
    return nullptr;
  }
  // The top directory may be a symlink, subjects/ may not.
  const uid_t euid = geteuid();
  const int top =
      OpenDir(AT_FDCWD, dir.c_str(), dir, /*follow=*/true, euid, err);
  if (top < 0) return nullptr;
  const int subjects =
      OpenDir(top, kSubjectsDir, LazyPath(dir, kSubjectsDir, {}),
              /*follow=*/false, euid, err);
  if (subjects < 0) {
    close(top);
    return nullptr;
  }
  return std::make_shared<StoreDir>(Token(), dir, top, subjects, euid);
}

StoreDir::StoreDir(Token, std::string path, int fd, int subjects_fd, uid_t euid)
    : path_(std::move(path)), fd_(fd), subjects_fd_(subjects_fd), euid_(euid) {}

StoreDir::~StoreDir() {
  close(subjects_fd_);
  close(fd_);
}

}  // namespace defender
