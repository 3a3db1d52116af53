#include "common/hooks.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/lazy_libc.h"
#include "common/normalize.h"

namespace defender {

std::vector<std::string> HookEnvironment(const Event& e,
                                         const std::string& service) {
  return {
      std::string("DEFENDER_EVENT=") +
          (e.type == Event::Type::kBlock ? "block" : "unblock"),
      std::string("DEFENDER_KIND=") + KindName(e.subject.kind),
      "DEFENDER_SUBJECT=" + EscapeForDisplay(e.subject.name),
      "DEFENDER_UNTIL=" + std::to_string(e.until),
      "DEFENDER_SERVICE=" + EscapeForDisplay(service),
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  };
}

namespace {

// Only async-signal-safe calls in the children: the caller may be threaded.

// The limits a hook starts with when the module runs as root, whatever the
// invoking user of a setuid caller set (they would crash a hook, or let it
// dump core): those systemd gives a service by default (a hard limit the
// user lowered is raised only where root has CAP_SYS_RESOURCE).
void ResetLimits() {
  struct Limit {
    __rlimit_resource_t resource;
    rlim_t soft, hard;
  };
  constexpr Limit kLimits[] = {
      {RLIMIT_CPU, RLIM_INFINITY, RLIM_INFINITY},
      {RLIMIT_FSIZE, RLIM_INFINITY, RLIM_INFINITY},
      {RLIMIT_DATA, RLIM_INFINITY, RLIM_INFINITY},
      {RLIMIT_STACK, 8 << 20, RLIM_INFINITY},
      {RLIMIT_CORE, 0, RLIM_INFINITY},
      {RLIMIT_NOFILE, 1024, 524288},
      {RLIMIT_AS, RLIM_INFINITY, RLIM_INFINITY},
      {RLIMIT_MEMLOCK, 8 << 20, 8 << 20},
      {RLIMIT_MSGQUEUE, 819200, 819200},
      {RLIMIT_NICE, 0, 0},
      {RLIMIT_RTPRIO, 0, 0},
      {RLIMIT_RTTIME, RLIM_INFINITY, RLIM_INFINITY},
  };
  for (const Limit& l : kLimits) {
    struct rlimit rl = {l.soft, l.hard};
    if (setrlimit(l.resource, &rl) != 0 && getrlimit(l.resource, &rl) == 0) {
      // Root without CAP_SYS_RESOURCE (a container) cannot raise a hard
      // limit: the soft one as close as the hard one allows.
      rl.rlim_cur = l.soft < rl.rlim_max ? l.soft : rl.rlim_max;
      setrlimit(l.resource, &rl);
    }
  }
  // Processes and pending signals: systemd sets no default, a service has
  // PID 1's (the kernel's, from the memory size). A hook that drops root
  // (runuser, setpriv) could not fork under a user's `ulimit -u 1`.
  for (const __rlimit_resource_t resource : {RLIMIT_NPROC, RLIMIT_SIGPENDING}) {
    struct {
      uint64_t cur, max;  // The kernel's struct rlimit64.
    } init;
    if (syscall(SYS_prlimit64, 1, resource, nullptr, &init) != 0) continue;
    struct rlimit rl = {static_cast<rlim_t>(init.cur),
                        static_cast<rlim_t>(init.max)};
    if (setrlimit(resource, &rl) != 0 && getrlimit(resource, &rl) == 0) {
      rl.rlim_cur = std::min(static_cast<rlim_t>(init.cur), rl.rlim_max);
      setrlimit(resource, &rl);
    }
  }
}

// An OOM score adjustment above 0 back to 0: a user may raise their own
// (up to 1000, which su inherits) and so make the hook the OOM killer's
// first choice in an out-of-memory of their own making. One below 0 (an
// administrator's, sshd's) is kept.
void ResetOomScore() {
  const int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
  if (fd < 0) return;
  char value[16];
  const ssize_t n = read(fd, value, sizeof value);
  if (n > 0 && value[0] >= '1' && value[0] <= '9') {
    ssize_t w;
    while ((w = write(fd, "0", 1)) < 0 && errno == EINTR) {
    }
  }
  close(fd);
}

// Nice 0, the default scheduling policy and I/O priority: a user may run su
// with SCHED_IDLE or an idle I/O class, which it would pass on to the hook.
// (CPU affinity is left as the caller set it.)
void ResetScheduling() {
  lazy::setpriority(PRIO_PROCESS, 0, 0);
  const struct sched_param none = {};
  lazy::sched_setscheduler(0, SCHED_OTHER, &none);
  constexpr int kIoprioWhoProcess = 1;
  syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, 0);  // IOPRIO_CLASS_NONE.
}

// Points 0-2 at /dev/null and closes every other descriptor but `keep`
// (-1: none), so that no child keeps a socket or file of the host process
// open. Returns where `keep` is now: moved above 2 if it was one of them,
// -1 if that failed.
int DetachDescriptors(int keep) {
  if (keep >= 0 && keep < 3) keep = fcntl(keep, F_DUPFD_CLOEXEC, 3);
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd < 0) _exit(1);
  lazy::dup2(null_fd, 0);
  lazy::dup2(null_fd, 1);
  lazy::dup2(null_fd, 2);
  const bool closed =
      keep < 0
          ? lazy::close_range(3U, ~0U, 0) == 0
          : (keep == 3 ||
             lazy::close_range(3U, static_cast<unsigned>(keep - 1), 0) == 0) &&
                lazy::close_range(static_cast<unsigned>(keep + 1), ~0U, 0) == 0;
  if (!closed) {
    // Kernels before 5.9, or a seccomp filter: close one by one.
    struct rlimit rl;
    const int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
                            rl.rlim_cur != RLIM_INFINITY &&
                            rl.rlim_cur < (1 << 20)
                        ? static_cast<int>(rl.rlim_cur)
                        : 65536;
    for (int fd = 3; fd < max; ++fd) {
      if (fd != keep) close(fd);
    }
  }
  return keep;
}

[[noreturn]] void ExecHook(char* const* argv, char* const* envp) {
  // The dispositions are the supervisor's: every one the default.
  sigset_t none;
  sigemptyset(&none);
  lazy::sigprocmask(SIG_SETMASK, &none, nullptr);
  lazy::setpgid(0, 0);
  if (lazy::chdir("/") != 0) _exit(126);
  umask(022);
  lazy::execve(argv[0], argv, envp);
  _exit(127);
}

// The supervisor: runs the hook, waits at most `timeout` seconds for it,
// then kills its process group.
[[noreturn]] void Supervise(char* const* argv, char* const* envp, int timeout) {
  // SIGCHLD alone held and every disposition the default: the host's mask
  // (a step holds the termination signals until its events are announced)
  // and its handlers are not the supervisor's, which a SIGTERM ends.
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  lazy::sigprocmask(SIG_SETMASK, &chld, nullptr);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof(dfl));
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);
  const pid_t hook = lazy::fork();
  if (hook < 0) _exit(1);
  if (hook == 0) ExecHook(argv, envp);
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout;
  for (;;) {
    int status;
    if (lazy::waitpid(hook, &status, WNOHANG) == hook) _exit(0);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct timespec left = {deadline.tv_sec - now.tv_sec,
                            deadline.tv_nsec - now.tv_nsec};
    if (left.tv_nsec < 0) {
      left.tv_nsec += 1'000'000'000;
      --left.tv_sec;
    }
    if (left.tv_sec < 0) break;
    lazy::sigtimedwait(&chld, nullptr, &left);
  }
  lazy::kill(-hook, SIGKILL);
  lazy::kill(hook, SIGKILL);
  lazy::waitpid(hook, nullptr, 0);
  _exit(0);
}

}  // namespace

bool SpawnDetached(const std::vector<std::string>& argv,
                   const std::vector<std::string>& env, int timeout_seconds,
                   std::string* err, pid_t* supervisor_out) {
  if (supervisor_out) *supervisor_out = 0;
  if (argv.empty() || argv[0].empty() || argv[0][0] != '/') {
    *err = "hook command must be an absolute path";
    return false;
  }
  // Everything the children need is built before fork().
  std::vector<char*> args, envs;
  for (const std::string& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const std::string& e : env) envs.push_back(const_cast<char*>(e.c_str()));
  envs.push_back(nullptr);

  // The children call these through pointers looked up in the parent: a
  // first call's lookup takes the loader's lock, which after fork() another
  // thread of the host may be holding.
  const bool bound =
      lazy::fork.Bind() && lazy::execve.Bind() && lazy::chdir.Bind() &&
      lazy::dup2.Bind() && lazy::close_range.Bind() && lazy::kill.Bind() &&
      lazy::setpgid.Bind() && lazy::setsid.Bind() && lazy::setresgid.Bind() &&
      lazy::setgroups.Bind() && lazy::getgroups.Bind() &&
      lazy::setpriority.Bind() && lazy::sched_setscheduler.Bind() &&
      lazy::sigprocmask.Bind() && lazy::sigtimedwait.Bind() &&
      lazy::waitpid.Bind();
  if (!bound) {
    *err = "cannot start hooks: the C library lacks a function they need";
    return false;
  }
  // The intermediate child tells the supervisor's pid through a pipe, when
  // asked for it.
  int report[2] = {-1, -1};
  if (supervisor_out && lazy::pipe2(report, O_CLOEXEC) != 0) {
    report[0] = report[1] = -1;
  }
  const pid_t child = lazy::fork();
  if (child < 0) {
    *err = std::string("fork failed: ") + lazy::strerror(errno);
    if (report[0] >= 0) {
      close(report[0]);
      close(report[1]);
    }
    return false;
  }
  if (child == 0) {
    // First of all, under a setuid caller (sudo, su: real uid = the invoking
    // user) take the effective ids as real and saved ids too, so that the
    // invoking user can signal none of the children (not this one, not the
    // supervisor, not the hook) and a shell cannot drop back to them. As
    // root, the hook also leaves behind the invoking user's groups (su keeps
    // them as effective and supplementary groups), nice value and resource
    // limits: it runs as a root service would. If that fails, no hook runs.
    const uid_t euid = geteuid();
    const gid_t gid = euid == 0 ? 0 : getegid();
    // A root without CAP_SETGID (a restricted service) may keep the empty
    // list of supplementary groups it has.
    const bool no_groups = euid != 0 || lazy::setgroups(0, nullptr) == 0 ||
                           (errno == EPERM && lazy::getgroups(0, nullptr) == 0);
    if (!no_groups || lazy::setresgid(gid, gid, gid) != 0 ||
        setresuid(euid, euid, euid) != 0) {
      _exit(1);
    }
    lazy::setsid();
    if (report[0] >= 0) close(report[0]);
    // Before ResetLimits: without close_range the descriptors are closed one
    // by one up to the open-files limit, the host's until then.
    const int report_fd = DetachDescriptors(report[1]);
    if (euid == 0) {
      ResetScheduling();
      ResetLimits();
      ResetOomScore();
    }
    const pid_t supervisor = lazy::fork();
    if (supervisor == 0) {
      if (report_fd >= 0) close(report_fd);
      Supervise(args.data(), envs.data(), timeout_seconds);
    }
    if (report_fd >= 0 && supervisor > 0) {
      ssize_t n;
      while ((n = write(report_fd, &supervisor, sizeof supervisor)) < 0 &&
             errno == EINTR) {
      }
    }
    _exit(supervisor < 0 ? 1 : 0);
  }
  if (report[1] >= 0) close(report[1]);
  if (report[0] >= 0) {
    pid_t pid = 0;
    ssize_t n;
    while ((n = read(report[0], &pid, sizeof pid)) < 0 && errno == EINTR) {
    }
    if (n == static_cast<ssize_t>(sizeof pid)) *supervisor_out = pid;
    close(report[0]);
  }
  // The intermediate child exits at once. The host's own SIGCHLD handler may
  // reap it first (ECHILD): that is fine too.
  while (lazy::waitpid(child, nullptr, 0) < 0 && errno == EINTR) {
  }
  return true;
}

}  // namespace defender
