/* pam_defender/direct_syscalls.c, linked into this program as into the
 * module: each function is this program's own (not the C library's) and
 * does what the C library's function of that name does, failures and errno
 * included. Prints one line per failed check and exits 1 if any failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

unsigned long gnu_dev_makedev(unsigned int major, unsigned int minor);
/* Defined only where direct_syscalls.c defines its functions: linking
 * fails elsewhere (and in a program that does not link the file). */
extern const char defender_direct_syscalls[];
int __openat64_2(int dirfd, const char* path, int flags);

static int failures;

#define CHECK(cond)                                                     \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "FAIL line %d: %s (errno %d)\n", __LINE__, #cond, \
              errno);                                                   \
      ++failures;                                                       \
    }                                                                   \
  } while (0)

typedef void (*Function)(void);

/* The object that defines `function`. */
static const char* DefinedIn(Function function) {
  void* address;
  memcpy(&address, &function, sizeof address);
  Dl_info info;
  return dladdr(address, &info) != 0 && info.dli_fname ? info.dli_fname : "?";
}

/* The numbers of the "Uid:" or "Gid:" line of /proc/self/status. */
static void StatusIds(const char* key, unsigned ids[4]) {
  FILE* f = fopen("/proc/self/status", "re");
  char line[256];
  ids[0] = ids[1] = ids[2] = ids[3] = ~0u;
  while (f && fgets(line, sizeof line, f)) {
    if (strncmp(line, key, strlen(key)) == 0) {
      sscanf(line + strlen(key), "%u %u %u %u", &ids[0], &ids[1], &ids[2],
             &ids[3]);
    }
  }
  if (f) fclose(f);
}

/* In a forked child: no core file, then `fn` (which ends the child). The
 * child's wait status. */
static int StatusOfChild(void (*fn)(int), int arg) {
  const pid_t pid = fork();
  if (pid == 0) {
    const struct rlimit64 none = {0, 0};
    setrlimit64(RLIMIT_CORE, &none);
    fn(arg);
    _exit(100);
  }
  int status = -1;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) return -1;
  return status;
}

/* __openat64_2 with flags that would create a file, in directory `dirfd`:
 * ends the process (SIGABRT) before the system call. */
static void OpenatCreating(int dirfd) {
  _exit(__openat64_2(dirfd, "new", O_RDWR | O_CREAT) >= 0 ? 1 : 2);
}
static void OpenatTmpfile(int dirfd) {
  _exit(__openat64_2(dirfd, ".", O_RDWR | O_TMPFILE) >= 0 ? 1 : 2);
}

/* _exit from a second thread ends the whole process with its status; the
 * first thread would end it with 1 after five seconds. */
static void* ExitThread(void* status) { _exit((int)(long)status); }
static void ExitFromThread(int status) {
  pthread_t t;
  if (pthread_create(&t, NULL, ExitThread, (void*)(long)status) != 0) {
    _exit(3);
  }
  const struct timespec five = {5, 0};
  nanosleep(&five, NULL);
  _exit(1);
}

/* As root, with real, effective and saved ids all different: geteuid,
 * getegid, getresuid and getresgid report each exactly, as
 * /proc/self/status does. Exit status 0 when they do. */
static void DistinctIds(int unused) {
  (void)unused;
  if (setresgid(11, 12, 13) != 0 || setresuid(21, 22, 23) != 0) _exit(4);
  uid_t r = 0, e = 0, s = 0;
  gid_t rg = 0, eg = 0, sg = 0;
  unsigned uids[4], gids[4];
  StatusIds("Uid:", uids);
  StatusIds("Gid:", gids);
  const int ok = getresuid(&r, &e, &s) == 0 && r == 21 && e == 22 && s == 23 &&
                 getresgid(&rg, &eg, &sg) == 0 && rg == 11 && eg == 12 &&
                 sg == 13 && geteuid() == 22 && getegid() == 12 &&
                 uids[0] == 21 && uids[1] == 22 && uids[2] == 23 &&
                 gids[0] == 11 && gids[1] == 12 && gids[2] == 13;
  _exit(ok ? 0 : 5);
}

static void OnAlarm(int sig) { (void)sig; }

int main(void) {
  CHECK(strcmp(defender_direct_syscalls, "direct") == 0);
  /* Each is this program's, as each is the module's. */
  const Function own[] = {
      (Function)read,         (Function)write,     (Function)pread64,
      (Function)pwrite64,     (Function)close,     (Function)open64,
      (Function)openat64,     (Function)fcntl64,   (Function)flock,
      (Function)fstat64,      (Function)fstatat64, (Function)lstat64,
      (Function)unlinkat,     (Function)umask,     (Function)getrlimit64,
      (Function)setrlimit64,  (Function)geteuid,   (Function)getegid,
      (Function)getresuid,    (Function)getresgid, (Function)nanosleep,
      (Function)sched_yield,  (Function)_exit,     (Function)gnu_dev_makedev,
      (Function)__openat64_2,
  };
  const char* self = DefinedIn((Function)main);
  for (size_t i = 0; i < sizeof own / sizeof own[0]; ++i) {
    if (strcmp(DefinedIn(own[i]), self) != 0) {
      fprintf(stderr, "FAIL: function %zu is %s's, not this program's\n", i,
              DefinedIn(own[i]));
      ++failures;
    }
  }

  char dir_template[] = "/tmp/direct_syscalls.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  CHECK(dir != NULL);
  if (dir == NULL) return 1;
  const int dirfd = open64(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(dirfd >= 0);

  /* open64 and openat64 pass the mode when they create, under the umask
   * that umask set (and umask returns the one before). */
  const mode_t before = umask(027);
  CHECK(umask(022) == 027);
  char path[256];
  snprintf(path, sizeof path, "%s/a", dir);
  int fd = open64(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  CHECK(fd >= 0);
  struct stat64 st;
  CHECK(fstat64(fd, &st) == 0);
  CHECK((st.st_mode & 07777) == 0644);
  CHECK(S_ISREG(st.st_mode));
  CHECK(open64(path, O_RDWR | O_CREAT | O_EXCL, 0600) == -1 && errno == EEXIST);
  const int tmp = openat64(dirfd, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0640);
  if (tmp >= 0) { /* The file system may not have O_TMPFILE. */
    CHECK(fstat64(tmp, &st) == 0 && (st.st_mode & 07777) == 0640);
    CHECK(close(tmp) == 0);
  }
  umask(before);
  /* __openat64_2: _FORTIFY_SOURCE's openat without a mode; one that would
   * create a file ends the process. */
  CHECK(close(fd) == 0);
  fd = __openat64_2(dirfd, "a", O_RDONLY | O_CLOEXEC);
  CHECK(fd >= 0 && fstat64(fd, &st) == 0 && S_ISREG(st.st_mode));
  CHECK(close(fd) == 0);
  CHECK(__openat64_2(dirfd, "missing", O_RDONLY) == -1 && errno == ENOENT);
  int status = StatusOfChild(OpenatCreating, dirfd);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  status = StatusOfChild(OpenatTmpfile, dirfd);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
  CHECK(faccessat(dirfd, "new", F_OK, 0) == -1 && errno == ENOENT);
  fd = openat64(dirfd, "a", O_RDWR | O_CLOEXEC);

  /* write, pwrite64, pread64 and read move the bytes asked, at the offsets
   * asked; fstat64 sees the size. */
  CHECK(write(fd, "hello world", 11) == 11);
  CHECK(pwrite64(fd, "W", 1, 6) == 1);
  char buf[32] = {0};
  CHECK(pread64(fd, buf, sizeof buf, 0) == 11);
  CHECK(memcmp(buf, "hello World", 11) == 0);
  CHECK(pread64(fd, buf, 3, 8) == 3 && memcmp(buf, "rld", 3) == 0);
  CHECK(read(fd, buf, sizeof buf) == 0); /* At the end after write. */
  CHECK(fstat64(fd, &st) == 0 && st.st_size == 11);
  const int reader = openat64(dirfd, "a", O_RDONLY | O_CLOEXEC);
  memset(buf, 0, sizeof buf);
  CHECK(read(reader, buf, 5) == 5 && memcmp(buf, "hello", 5) == 0);
  CHECK(read(reader, buf, sizeof buf) == 6 && memcmp(buf, " World", 6) == 0);
  CHECK(read(reader, buf, sizeof buf) == 0);
  CHECK(close(reader) == 0);

  /* fcntl64: flags, and a lock through a struct pointer. */
  CHECK(fcntl64(fd, F_GETFD) == FD_CLOEXEC);
  CHECK(fcntl64(fd, F_SETFD, 0) == 0 && fcntl64(fd, F_GETFD) == 0);
  CHECK((fcntl64(fd, F_GETFL) & O_ACCMODE) == O_RDWR);
  struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  CHECK(fcntl64(fd, F_OFD_SETLK, &lock) == 0);
  const int other = openat64(dirfd, "a", O_RDWR | O_CLOEXEC);
  CHECK(other >= 0);
  CHECK(fcntl64(other, F_OFD_SETLK, &lock) == -1 && errno == EAGAIN);

  /* flock: an exclusive lock keeps another open file description out. */
  CHECK(flock(fd, LOCK_EX) == 0);
  CHECK(flock(other, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK);
  CHECK(flock(fd, LOCK_UN) == 0);
  CHECK(flock(other, LOCK_SH | LOCK_NB) == 0);
  CHECK(close(other) == 0);

  /* fstatat64 and lstat64 do not follow a symbolic link unless told;
   * O_NOFOLLOW refuses one. */
  CHECK(symlinkat("a", dirfd, "link") == 0);
  snprintf(path, sizeof path, "%s/link", dir);
  CHECK(lstat64(path, &st) == 0 && S_ISLNK(st.st_mode));
  CHECK(fstatat64(dirfd, "link", &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode));
  CHECK(fstatat64(dirfd, "link", &st, 0) == 0 && S_ISREG(st.st_mode) &&
        st.st_size == 11);
  CHECK(openat64(dirfd, "link", O_RDONLY | O_NOFOLLOW) == -1 && errno == ELOOP);
  CHECK(lstat64("/nonexistent/x", &st) == -1 && errno == ENOENT);

  /* st_dev and makedev agree with statx's device numbers. */
  struct statx x;
  CHECK(syscall(SYS_statx, dirfd, "a", 0, STATX_BASIC_STATS, &x) == 0);
  CHECK(fstatat64(dirfd, "a", &st, 0) == 0);
  CHECK(st.st_dev == gnu_dev_makedev(x.stx_dev_major, x.stx_dev_minor));
  CHECK(st.st_ino == x.stx_ino);
  CHECK(gnu_dev_makedev(8, 1) == 0x801);
  CHECK(gnu_dev_makedev(0x12345, 0x6789a) == 0x120006783459aUL);

  /* unlinkat, and failures with their errno. */
  CHECK(unlinkat(dirfd, "link", 0) == 0);
  CHECK(unlinkat(dirfd, "link", 0) == -1 && errno == ENOENT);
  CHECK(unlinkat(dirfd, "a", 0) == 0);
  CHECK(close(fd) == 0);
  CHECK(close(fd) == -1 && errno == EBADF);
  CHECK(read(-1, buf, 1) == -1 && errno == EBADF);
  CHECK(write(-1, buf, 1) == -1 && errno == EBADF);
  CHECK(fstat64(-1, &st) == -1 && errno == EBADF);
  CHECK(fstat64(AT_FDCWD, &st) == -1 && errno == EBADF);
  CHECK(close(dirfd) == 0);
  CHECK(rmdir(dir) == 0);

  /* Resource limits read and set, as /proc/self/limits shows them. */
  struct rlimit64 rl;
  CHECK(getrlimit64(RLIMIT_NOFILE, &rl) == 0);
  const struct rlimit64 saved = rl;
  rl.rlim_cur = rl.rlim_cur > 64 ? rl.rlim_cur - 1 : rl.rlim_cur;
  CHECK(setrlimit64(RLIMIT_NOFILE, &rl) == 0);
  struct rlimit64 now;
  CHECK(getrlimit64(RLIMIT_NOFILE, &now) == 0 && now.rlim_cur == rl.rlim_cur &&
        now.rlim_max == rl.rlim_max);
  CHECK(setrlimit64(RLIMIT_NOFILE, &saved) == 0);
  CHECK(getrlimit64(9999, &rl) == -1 && errno == EINVAL);

  /* Credentials, as the kernel reports them in /proc/self/status; as
   * root also with every id different, in a child. */
  unsigned uids[4], gids[4];
  StatusIds("Uid:", uids);
  StatusIds("Gid:", gids);
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  CHECK(getresuid(&ru, &eu, &su) == 0);
  CHECK(getresgid(&rg, &eg, &sg) == 0);
  CHECK(ru == uids[0] && eu == uids[1] && su == uids[2]);
  CHECK(rg == gids[0] && eg == gids[1] && sg == gids[2]);
  CHECK(geteuid() == uids[1] && getegid() == gids[1]);
  if (geteuid() == 0) {
    status = StatusOfChild(DistinctIds, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  } else {
    printf("not root: credentials not checked with distinct ids\n");
  }

  /* nanosleep sleeps at least the time asked; sched_yield returns 0. */
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  const struct timespec ms = {0, 2000000};
  CHECK(nanosleep(&ms, NULL) == 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK((t1.tv_sec - t0.tv_sec) * 1000000000L + (t1.tv_nsec - t0.tv_nsec) >=
        2000000L);
  const struct timespec bad = {0, 2000000000L};
  CHECK(nanosleep(&bad, NULL) == -1 && errno == EINVAL);
  /* Interrupted by a signal: EINTR, and the time left. */
  struct sigaction alarm = {0};
  alarm.sa_handler = OnAlarm;
  CHECK(sigaction(SIGALRM, &alarm, NULL) == 0);
  const struct itimerval soon = {{0, 0}, {0, 20000}};
  CHECK(setitimer(ITIMER_REAL, &soon, NULL) == 0);
  const struct timespec two = {2, 0};
  struct timespec left = {0, 0};
  CHECK(nanosleep(&two, &left) == -1 && errno == EINTR);
  CHECK(left.tv_sec == 1 && left.tv_nsec > 0);
  CHECK(sched_yield() == 0);

  /* _exit ends the whole process with its status, from any thread. */
  status = StatusOfChild(ExitFromThread, 7);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);

  if (failures == 0) printf("ok\n");
  return failures == 0 ? 0 : 1;
}
