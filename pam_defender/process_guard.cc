#include "pam_defender/process_guard.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/lazy_libc.h"

namespace defender {

bool InSecureContext() noexcept {
  if (getauxval(AT_SECURE) != 0) return true;
  // Two system calls where getuid, geteuid, getgid and getegid make four
  // (one step runs this once). They fail only on a bad address; should
  // one fail, the process is treated as privileged, which is the safe way.
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (getresuid(&ruid, &euid, &suid) != 0 ||
      getresgid(&rgid, &egid, &sgid) != 0) {
    return true;
  }
  return ruid != euid || rgid != egid;
}

ProcessGuard::ProcessGuard(bool secure) noexcept : active_(secure) {
  if (!active_) return;
  limits_[0].resource = RLIMIT_FSIZE;
  RaiseLimit(&limits_[0], RLIM_INFINITY, "setrlimit(RLIMIT_FSIZE)");
  limits_[1].resource = RLIMIT_AS;
  RaiseLimit(&limits_[1], RLIM_INFINITY, "setrlimit(RLIMIT_AS)");
  limits_[2].resource = RLIMIT_DATA;
  RaiseLimit(&limits_[2], RLIM_INFINITY, "setrlimit(RLIMIT_DATA)");
  limits_[3].resource = RLIMIT_CPU;
  RaiseLimit(&limits_[3], RLIM_INFINITY, "setrlimit(RLIMIT_CPU)");
  limits_[4].resource = RLIMIT_NOFILE;
  RaiseLimit(&limits_[4], kMinOpenFiles, "setrlimit(RLIMIT_NOFILE)");
  // A limit that is infinite now raises no signal: the action is left alone.
  signals_[0].sig = SIGXFSZ;
  if (!Unlimited(RLIMIT_FSIZE)) {
    IgnoreSignal(&signals_[0], "sigaction(SIGXFSZ)");
  }
  signals_[1].sig = SIGXCPU;
  if (!Unlimited(RLIMIT_CPU)) IgnoreSignal(&signals_[1], "sigaction(SIGXCPU)");
  old_umask_ = umask(077);
  // After RLIMIT_NOFILE: with `ulimit -n 2` there is room for fd 2 only now.
  for (int fd = 0; fd < 3; ++fd) FillFd(fd);
  Unstoppable();
  NormalScheduling();
}

ProcessGuard::~ProcessGuard() {
  if (!active_) return;
  if (ruid_changed_)
    setresuid(old_ruid_, static_cast<uid_t>(-1), static_cast<uid_t>(-1));
  for (const SavedLimit& l : limits_) {
    if (l.changed) setrlimit(l.resource, &l.old);
  }
  struct sigaction ign;
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  for (SavedSignal& s : signals_) {
    if (!s.changed) continue;
    // Setting SIG_IGN again discards a signal generated (and left pending
    // by a blocking mask) while held.
    sigaction(s.sig, &ign, nullptr);
    sigaction(s.sig, &s.old, nullptr);
  }
  RestoreScheduling();
  umask(old_umask_);
  // Last: a stop signal sent while held is delivered now, with nothing held.
  if (mask_changed_) pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  for (int fd = 0; fd < 3; ++fd) {
    struct stat st;
    // Closed only if it is still the /dev/null opened here.
    if (fds_[fd].opened && fstat(fd, &st) == 0 && st.st_dev == fds_[fd].dev &&
        st.st_ino == fds_[fd].ino) {
      close(fd);
    }
  }
}

void ProcessGuard::Fail(const char* what, int err) {
  if (error_ != nullptr) return;
  error_ = what;
  error_errno_ = err;
}

void ProcessGuard::RaiseLimit(SavedLimit* l, rlim_t floor, const char* what) {
  if (getrlimit(l->resource, &l->old) != 0) {
    Fail(what, errno);
    return;
  }
  // RLIM_INFINITY is the largest rlim_t: std::max keeps it.
  struct rlimit want;
  want.rlim_cur = std::max(l->old.rlim_cur, floor);
  want.rlim_max = std::max(l->old.rlim_max, want.rlim_cur);
  if (want.rlim_cur == l->old.rlim_cur && want.rlim_max == l->old.rlim_max) {
    return;
  }
  if (setrlimit(l->resource, &want) == 0) {
    l->changed = true;
    return;
  }
  Fail(what, errno);
  // Without CAP_SYS_RESOURCE (or above fs.nr_open): as far as the hard
  // limit allows.
  want.rlim_max = l->old.rlim_max;
  want.rlim_cur = std::min(want.rlim_cur, want.rlim_max);
  if (want.rlim_cur != l->old.rlim_cur && setrlimit(l->resource, &want) == 0) {
    l->changed = true;
  }
}

bool ProcessGuard::Unlimited(int resource) {
  struct rlimit rl;
  return getrlimit(resource, &rl) == 0 && rl.rlim_cur == RLIM_INFINITY;
}

void ProcessGuard::IgnoreSignal(SavedSignal* s, const char* what) {
  struct sigaction ign;
  memset(&ign, 0, sizeof(ign));
  ign.sa_handler = SIG_IGN;
  sigemptyset(&ign.sa_mask);
  if (sigaction(s->sig, nullptr, &s->old) != 0) {
    Fail(what, errno);
    return;
  }
  if (s->old.sa_handler == SIG_IGN) return;
  if (sigaction(s->sig, &ign, nullptr) != 0) {
    Fail(what, errno);
    return;
  }
  s->changed = true;
}

void ProcessGuard::Unstoppable() {
  uid_t ruid, euid, suid;
  if (getresuid(&ruid, &euid, &suid) != 0) {
    Fail("getresuid", errno);
  } else {
    caller_uid_ = ruid;
    if (euid == 0 && ruid != 0) {
      if (setresuid(0, static_cast<uid_t>(-1), static_cast<uid_t>(-1)) == 0) {
        old_ruid_ = ruid;
        ruid_changed_ = true;
      } else {
        Fail("setresuid", errno);
      }
    }
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTSTP);
  sigaddset(&stop, SIGTTIN);
  sigaddset(&stop, SIGTTOU);
  const int rc = pthread_sigmask(SIG_BLOCK, &stop, &old_mask_);
  if (rc == 0) {
    mask_changed_ = true;
  } else {
    Fail("pthread_sigmask", rc);
  }
}

namespace {

// ioprio_get/ioprio_set (no C library wrapper): of the calling thread, whose
// class is in the top bits (linux/ioprio.h).
constexpr int kIoprioWhoProcess = 1;
constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassIdle = 3;

}  // namespace

// Out of line: a login under sshd or login (no guard) never runs it, and
// it stays out of the code every login runs (hot_functions.txt).
[[gnu::noinline]] void ProcessGuard::NormalScheduling() {
  errno = 0;
  const int nice = lazy::getpriority(PRIO_PROCESS, 0);
  if (errno != 0) {
    Fail("getpriority", errno);
  } else if (nice > 0) {
    if (lazy::setpriority(PRIO_PROCESS, 0, 0) == 0) {
      old_nice_ = nice;
      nice_changed_ = true;
    } else {
      Fail("setpriority", errno);
    }
  }
  const int policy = lazy::sched_getscheduler(0);
  const int base = policy & ~SCHED_RESET_ON_FORK;
  if (policy < 0) {
    Fail("sched_getscheduler", errno);
  } else if (base == SCHED_IDLE || base == SCHED_BATCH) {
    const struct sched_param none = {};
    if (lazy::sched_getparam(0, &old_param_) != 0) {
      Fail("sched_getparam", errno);
    } else if (lazy::sched_setscheduler(
                   0, SCHED_OTHER | (policy & SCHED_RESET_ON_FORK), &none) ==
               0) {
      old_policy_ = policy;
      policy_changed_ = true;
    } else {
      Fail("sched_setscheduler", errno);
    }
  }
  const long ioprio = syscall(SYS_ioprio_get, kIoprioWhoProcess, 0);
  if (ioprio < 0) {
    Fail("ioprio_get", errno);
  } else if ((ioprio >> kIoprioClassShift) == kIoprioClassIdle) {
    if (syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, 0) == 0) {
      old_ioprio_ = static_cast<int>(ioprio);
      ioprio_changed_ = true;
    } else {
      Fail("ioprio_set", errno);
    }
  }
}

[[gnu::noinline]] void ProcessGuard::RestoreScheduling() {
  if (ioprio_changed_) {
    syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, old_ioprio_);
  }
  if (policy_changed_) lazy::sched_setscheduler(0, old_policy_, &old_param_);
  if (nice_changed_) lazy::setpriority(PRIO_PROCESS, 0, old_nice_);
}

void ProcessGuard::FillFd(int fd) {
  if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) return;
  // The lowest free number: `fd`, since those below it are open now.
  const int got = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (got < 0) {
    Fail("open(/dev/null)", errno);
    return;
  }
  struct stat st;
  if (got != fd || fstat(got, &st) != 0) {
    close(got);
    Fail("open(/dev/null)", EBADF);
    return;
  }
  fds_[fd] = {true, st.st_dev, st.st_ino};
}

}  // namespace defender
