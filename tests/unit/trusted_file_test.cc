// StatWithoutTimes: the stat of the local state's trust checks, which leaves
// the kernel's record of "times seen" alone (common/trusted_file.h).
#include "common/trusted_file.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "tests/support/files.h"

namespace defender::testing {
namespace {

bool SameButTimes(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino &&
         a.st_mode == b.st_mode && a.st_nlink == b.st_nlink &&
         a.st_uid == b.st_uid && a.st_gid == b.st_gid && a.st_size == b.st_size;
}

bool NoTimes(const struct stat& st) {
  return st.st_atim.tv_sec == 0 && st.st_atim.tv_nsec == 0 &&
         st.st_mtim.tv_sec == 0 && st.st_mtim.tv_nsec == 0 &&
         st.st_ctim.tv_sec == 0 && st.st_ctim.tv_nsec == 0;
}

// The checks of both cases below on a file, a directory (through an
// O_PATH descriptor, as the store holds its directories) and a symlink not
// followed: 0 when StatWithoutTimes agrees with fstatat on every field but
// the times, and leaves the times zero when `zero_times`; else the number
// of the check that failed.
int Compare(const TempDir& tmp, bool zero_times) {
  const std::string file = tmp.Write("f", "abcdef", 0640);
  const std::string link = tmp / "l";
  if (symlink(file.c_str(), link.c_str()) != 0) return 1;
  const int dir = open(tmp.path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return 2;
  struct stat want, got;
  const struct {
    int dirfd;
    const char* name;
    int flags;
  } cases[] = {
      {dir, "f", 0}, {dir, "", AT_EMPTY_PATH}, {dir, "l", AT_SYMLINK_NOFOLLOW}};
  int check = 3;
  for (const auto& c : cases) {
    if (fstatat(c.dirfd, c.name, &want, c.flags) != 0) return check;
    ++check;
    if (StatWithoutTimes(c.dirfd, c.name, c.flags, &got) != 0) return check;
    ++check;
    if (!SameButTimes(want, got)) return check;
    ++check;
    if (zero_times != NoTimes(got)) return check;
    ++check;
  }
  errno = 0;
  if (StatWithoutTimes(dir, "missing", 0, &got) != -1 || errno != ENOENT) {
    return check;
  }
  close(dir);
  return 0;
}

TEST_CASE("StatWithoutTimes gives fstatat's fields, and no times") {
  TempDir tmp;
  CHECK(Compare(tmp, /*zero_times=*/true) == 0);
  struct stat st;
  const std::string file = tmp / "f";
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(StatWithoutTimes(fd, "", AT_EMPTY_PATH, &st) == 0);
  CHECK(S_ISREG(st.st_mode));
  CHECK((st.st_mode & 07777) == 0640);
  CHECK(st.st_size == 6);
  CHECK(st.st_nlink == 1);
  CHECK(st.st_uid == geteuid());
  close(fd);
}

// A seccomp profile (or a kernel before 4.11) without statx.
TEST_CASE("where statx is refused StatWithoutTimes falls back to fstatat") {
  for (const int refusal : {ENOSYS, EPERM}) {
    CAPTURE(refusal);
    TempDir tmp;
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      struct sock_filter filter[] = {
          BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
          BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_statx, 0, 1),
          BPF_STMT(BPF_RET | BPF_K,
                   SECCOMP_RET_ERRNO | static_cast<unsigned>(refusal)),
          BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      };
      struct sock_fprog prog = {static_cast<unsigned short>(std::size(filter)),
                                filter};
      if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
          prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        _exit(100);
      }
      // fstatat's own times come back: the fallback ran.
      _exit(Compare(tmp, /*zero_times=*/false));
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

}  // namespace
}  // namespace defender::testing
