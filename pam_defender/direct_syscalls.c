/* The C library's system-call wrappers that a login calls, defined in the
 * module itself as direct system calls.
 *
 * libpam loads a module with RTLD_NOW: before the first step the loader
 * looks up every function the module imports, in each library of the host
 * process, in every login (about 0.1 µs each in bench/login_phases, more in
 * sshd with its two dozen libraries). The functions below are thin wrappers
 * of one system call each (and makedev, arithmetic only); defined here,
 * with hidden visibility, they bind within the module when it is linked,
 * and the loader has 24 imports fewer to look up (doc/DESIGN.md §7, "Fewer
 * imports"). Each goes through syscall(), which the module imports already
 * and which sets errno as the wrapper would.
 *
 * Contract: each function does what the C library's function of that name
 * does on Linux, and makes the same system call (nanosleep's is
 * clock_nanosleep, as glibc's), with these differences:
 *   - none is a cancellation point (a host thread cancelled inside the
 *     module would otherwise unwind through C++ frames);
 *   - an LD_PRELOAD interposer of the function does not see the module's
 *     calls (interposers of malloc and of the functions common/lazy_libc.h
 *     looks up still do);
 *   - fcntl64 passes its third argument on as the system call takes it:
 *     F_GETOWN, which the module does not use, reports a process group
 *     whose id is below 4096 as an error (the C library asks F_GETOWN_EX);
 *   - __openat64_2, what _FORTIFY_SOURCE builds call for an openat whose
 *     flags would need a mode, aborts without the C library's message on
 *     stderr (the module never writes there).
 * Async-signal-safe, as the system calls are: a hook's forked child calls
 * them before exec. Defined for x86-64 (not x32) and arm64, where the
 * kernel's struct stat and struct rlimit are the C library's struct stat64
 * and struct rlimit64; elsewhere this file is empty and the module imports
 * the C library's (pam_defender/meson.build links it only there).
 *
 * Not here: setresuid (the C library changes every thread's credentials,
 * the system call only the caller's), clock_gettime (the vDSO answers it
 * without a system call), and the rest of what the module imports, which
 * is more than one system call. */
#if (defined(__x86_64__) && !defined(__ILP32__)) || defined(__aarch64__)

/* The headers' checked inline variants of read and pread (_FORTIFY_SOURCE,
 * as distributions build) would be declared before the definitions below,
 * and clang would then ignore their visibility. */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define DIRECT __attribute__((visibility("hidden")))

/* Referenced by tests/unit/direct_syscalls_test.c, so that it fails to link
 * where this file defines nothing. */
DIRECT const char defender_direct_syscalls[] = "direct";

DIRECT ssize_t read(int fd, void* buf, size_t count) {
  return syscall(SYS_read, fd, buf, count);
}

DIRECT ssize_t write(int fd, const void* buf, size_t count) {
  return syscall(SYS_write, fd, buf, count);
}

DIRECT ssize_t pread64(int fd, void* buf, size_t count, off64_t offset) {
  return syscall(SYS_pread64, fd, buf, count, offset);
}

DIRECT ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  return syscall(SYS_pwrite64, fd, buf, count, offset);
}

DIRECT int close(int fd) { return (int)syscall(SYS_close, fd); }

/* Whether open's flags create a file, and so take a mode argument. */
static int CreatesFile(int flags) {
  return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

/* The mode argument is read only when the flags create a file, as the C
 * library reads it. */
static mode_t ModeArgument(int flags, va_list ap) {
  return CreatesFile(flags) ? (mode_t)va_arg(ap, int) : 0;
}

DIRECT int openat64(int dirfd, const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeArgument(flags, ap);
  va_end(ap);
  return (int)syscall(SYS_openat, dirfd, path, flags, mode);
}

DIRECT int open64(const char* path, int flags, ...) {
  va_list ap;
  va_start(ap, flags);
  const mode_t mode = ModeArgument(flags, ap);
  va_end(ap);
  return (int)syscall(SYS_openat, AT_FDCWD, path, flags, mode);
}

/* What _FORTIFY_SOURCE builds (the Debian package's) call for an openat
 * without a mode whose flags are not known when compiled: flags that would
 * create a file have no mode to pass, and end the process as the C
 * library's do (but without its message on stderr). */
DIRECT int __openat64_2(int dirfd, const char* path, int flags) {
  if (CreatesFile(flags)) abort();
  return (int)syscall(SYS_openat, dirfd, path, flags, 0);
}

/* Every command the module uses takes an int or a pointer (F_GETFD,
 * F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC, F_OFD_SETLK...), passed on
 * as a long as the C library does. */
DIRECT int fcntl64(int fd, int cmd, ...) {
  va_list ap;
  va_start(ap, cmd);
  const long arg = va_arg(ap, long);
  va_end(ap);
  return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

DIRECT int flock(int fd, int operation) {
  return (int)syscall(SYS_flock, fd, operation);
}

DIRECT int fstatat64(int dirfd, const char* restrict path,
                     struct stat64* restrict buf, int flags) {
  return (int)syscall(SYS_newfstatat, dirfd, path, buf, flags);
}

/* SYS_fstat, not newfstatat with AT_EMPTY_PATH: that would take AT_FDCWD
 * for the current directory, where the C library's fails with EBADF. */
DIRECT int fstat64(int fd, struct stat64* buf) {
  return (int)syscall(SYS_fstat, fd, buf);
}

DIRECT int lstat64(const char* restrict path, struct stat64* restrict buf) {
  return (int)syscall(SYS_newfstatat, AT_FDCWD, path, buf, AT_SYMLINK_NOFOLLOW);
}

DIRECT int unlinkat(int dirfd, const char* path, int flags) {
  return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}

DIRECT mode_t umask(mode_t mask) { return (mode_t)syscall(SYS_umask, mask); }

DIRECT int getrlimit64(__rlimit_resource_t resource, struct rlimit64* limit) {
  return (int)syscall(SYS_prlimit64, 0, resource, NULL, limit);
}

DIRECT int setrlimit64(__rlimit_resource_t resource,
                       const struct rlimit64* limit) {
  return (int)syscall(SYS_prlimit64, 0, resource, limit, NULL);
}

DIRECT uid_t geteuid(void) { return (uid_t)syscall(SYS_geteuid); }

DIRECT gid_t getegid(void) { return (gid_t)syscall(SYS_getegid); }

DIRECT int getresuid(uid_t* ruid, uid_t* euid, uid_t* suid) {
  return (int)syscall(SYS_getresuid, ruid, euid, suid);
}

DIRECT int getresgid(gid_t* rgid, gid_t* egid, gid_t* sgid) {
  return (int)syscall(SYS_getresgid, rgid, egid, sgid);
}

/* As the C library's: CLOCK_REALTIME, relative. */
DIRECT int nanosleep(const struct timespec* request,
                     struct timespec* remaining) {
  return (int)syscall(SYS_clock_nanosleep, CLOCK_REALTIME, 0, request,
                      remaining);
}

DIRECT int sched_yield(void) { return (int)syscall(SYS_sched_yield); }

DIRECT void _exit(int status) {
  for (;;) syscall(SYS_exit_group, status);
}

/* sys/sysmacros.h's makedev, which -Os builds call instead of inlining;
 * the arithmetic is the C library's (not included here: its inline
 * definition would clash with this one). */
DIRECT unsigned long gnu_dev_makedev(unsigned int major, unsigned int minor) {
  return ((unsigned long)(major & 0x00000fffu) << 8) |
         ((unsigned long)(major & 0xfffff000u) << 32) |
         ((unsigned long)(minor & 0x000000ffu)) |
         ((unsigned long)(minor & 0xffffff00u) << 12);
}

#endif
