// Process state that the caller of a setuid program controls, made safe for
// the store while one module step runs.
//
// A local user who runs su or sudo chooses the rlimits, signal dispositions
// and mask, umask and open descriptors that the setuid program starts with.
// With `ulimit -f 0` every SQLite write fails with EFBIG (or, SIGXFSZ left
// at its default, kills the program between the password check and the
// count); with `ulimit -n 5` SQLite cannot open its -shm file; with
// `umask 0777` the store is created mode 0000; with fd 2 closed a store
// descriptor can land on 2 and be overwritten by the program's later error
// messages. Each would let the user guess passwords without being counted.
//
// A ProcessGuard acts only when the process is privileged by exec (see
// InSecureContext()); sshd or login started by root are trusted as they
// are. While it is held:
//   - RLIMIT_FSIZE, RLIMIT_AS, RLIMIT_DATA and RLIMIT_CPU are infinite
//     (soft and hard; where the hard limit cannot be raised, soft = hard);
//   - RLIMIT_NOFILE is at least kMinOpenFiles;
//   - where RLIMIT_FSIZE or RLIMIT_CPU could not be made infinite (no
//     CAP_SYS_RESOURCE for a hard limit), SIGXFSZ or SIGXCPU is ignored, so
//     that the limit gives an error (a store error, which fails closed) and
//     never kills the process between the password check and the count;
//     one generated while held is discarded on release, even if blocked;
//   - the process runs at nice 0 (if its nice value was higher), with the
//     default scheduling policy (if it was SCHED_IDLE or SCHED_BATCH) and
//     the default I/O priority (if its class was idle): a user who starts
//     su with `chrt -i 0` or `nice -n 19` beside a few busy loops of their
//     own would otherwise make a Redis step miss its deadline at will, and
//     a store error picks the failure policy (redis.on_error = "open"
//     allows; "local" counts where the fleet's blocks are not);
//   - the umask is 077;
//   - each closed descriptor among 0, 1 and 2 is /dev/null (O_RDWR), so no
//     store or socket descriptor is given one of those numbers;
//   - the invoking user cannot stop the process: with an effective uid of
//     0 the real uid is 0 too (the kernel lets a user signal a process
//     whose real or saved uid is theirs, and su's real uid is the caller's),
//     and SIGTSTP, SIGTTIN and SIGTTOU, which the terminal sends whatever
//     the uid, are blocked (one sent meanwhile is delivered on release).
//     Otherwise a user could SIGSTOP su while it holds a record's lock, and
//     every login of that user (root) would wait out the lock and go
//     uncounted until su was resumed.
// On release every limit, the real uid, the scheduling, the signal
// actions, the signal mask and the umask are restored, and the descriptors it
// opened are closed: the host process is left as it was found. (Where a signal
// action had to be changed: a SIGXFSZ or SIGXCPU already pending is discarded,
// as ignoring a signal discards it, and a default action is restored through
// glibc, which adds SA_RESTORER to its flags, with no effect.)
//
// The guard uses only system calls (no allocation), never throws, and is
// not thread-safe against other threads changing the same process state
// (setuid programs that run PAM are single-threaded). A failed call is not
// fatal: the guard goes on with the rest, and error() names the first one.
#ifndef PAM_DEFENDER_PAM_DEFENDER_PROCESS_GUARD_H_
#define PAM_DEFENDER_PAM_DEFENDER_PROCESS_GUARD_H_

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>

namespace defender {

// True when the process is privileged by exec: AT_SECURE is set (setuid,
// setgid or file capabilities), or the real and effective user or group
// ids differ.
bool InSecureContext() noexcept;

class ProcessGuard {
 public:
  static constexpr rlim_t kMinOpenFiles = 1024;

  // Takes hold if InSecureContext(); otherwise does nothing.
  ProcessGuard() noexcept : ProcessGuard(InSecureContext()) {}
  // Takes hold if `secure` (tests pass true).
  explicit ProcessGuard(bool secure) noexcept;
  ~ProcessGuard();
  ProcessGuard(const ProcessGuard&) = delete;
  ProcessGuard& operator=(const ProcessGuard&) = delete;

  // True when the guard acts (the process is privileged by exec).
  bool active() const { return active_; }
  // When it acts: the real uid the process had when the guard took hold,
  // the user who runs the setuid program, which the kernel set (not one of
  // the PAM items, which the program may take from its caller: PAM_RUSER);
  // (uid_t)-1 if it could not be read. Otherwise (uid_t)-1.
  uid_t caller_uid() const { return caller_uid_; }
  // The first call of the guard that failed ("setrlimit(RLIMIT_FSIZE)"),
  // or nullptr; error_errno() is its errno.
  const char* error() const { return error_; }
  int error_errno() const { return error_errno_; }

 private:
  struct SavedLimit {
    int resource;
    struct rlimit old;
    bool changed;
  };
  struct SavedSignal {
    int sig;
    struct sigaction old;
    bool changed;
  };
  struct OpenedFd {
    bool opened;
    dev_t dev;
    ino_t ino;
  };

  void Fail(const char* what, int err);
  void RaiseLimit(SavedLimit* l, rlim_t floor, const char* what);
  static bool Unlimited(int resource);
  void IgnoreSignal(SavedSignal* s, const char* what);
  void FillFd(int fd);
  void Unstoppable();
  void NormalScheduling();
  void RestoreScheduling();

  bool active_ = false;
  const char* error_ = nullptr;
  int error_errno_ = 0;
  SavedLimit limits_[5] = {};
  SavedSignal signals_[2] = {};
  mode_t old_umask_ = 0;
  bool ruid_changed_ = false;
  uid_t old_ruid_ = 0;
  uid_t caller_uid_ = static_cast<uid_t>(-1);
  bool mask_changed_ = false;
  sigset_t old_mask_ = {};
  OpenedFd fds_[3] = {};
  // The scheduling the caller gave the process, where it was changed.
  bool nice_changed_ = false;
  int old_nice_ = 0;
  bool policy_changed_ = false;
  int old_policy_ = 0;
  struct sched_param old_param_ = {};
  bool ioprio_changed_ = false;
  int old_ioprio_ = 0;
};

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_PROCESS_GUARD_H_
