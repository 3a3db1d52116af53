// What the module leaves behind in the process that loaded it (sshd, sudo,
// a screen locker): no descriptor, no child or zombie, no changed signal
// disposition or mask, and a hook command that never goes through a shell.
// Needs root: a config that names hooks must be root-owned.
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "harness.h"

namespace hardening {
namespace {

// Open descriptors of this process and what they point to.
std::map<int, std::string> OpenFds() {
  std::map<int, std::string> fds;
  DIR* dir = opendir("/proc/self/fd");
  REQUIRE(dir != nullptr);
  const int self = dirfd(dir);
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    const int fd = atoi(e->d_name);
    if (fd == self) continue;
    char target[4096];
    const ssize_t n = readlinkat(self, e->d_name, target, sizeof(target) - 1);
    fds[fd] = n > 0 ? std::string(target, static_cast<size_t>(n)) : "?";
  }
  closedir(dir);
  return fds;
}

// Waits (bounded) for a file that a detached hook writes.
bool WaitForFile(const std::string& path) {
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

// True when this process has no child at all, zombie or running.
bool NoChildren() {
  errno = 0;
  return waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

// A hook that records its argv and DEFENDER_* environment, then renames
// the record into place so the test sees it whole. Each run writes under a
// name of its own: a block of the user and of the host starts two hooks at
// once, and one truncating the other's file could be read half written.
std::string WriteRecorder(const Env& env, const std::string& out) {
  const std::string script = env.dir() + "/record-hook";
  WriteFile(script,
            "#!/bin/sh\n"
            "for a in \"$@\"; do printf '%s\\n' \"$a\"; done > '" +
                out +
                ".tmp'$$\n"
                "env | grep '^DEFENDER_' | sort >> '" +
                out +
                ".tmp'$$\n"
                "mv '" +
                out + ".tmp'$$ '" + out + "'\n",
            0755);
  return script;
}

// Every kind of login the module handles, in one process: success,
// failure, the failure that blocks (with a hook), a refusal with a message,
// the account step, and a store error.
void LoginsOfEveryKind(Env& env, const std::string& hook_out) {
  Login good;
  good.password = "secret";
  CHECK(RunLogin(env, good).auth == PAM_SUCCESS);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);  // Blocks: hook.
  REQUIRE(WaitForFile(hook_out));
  const LoginResult refused = RunLogin(env, good);
  CHECK(refused.auth == PAM_AUTH_ERR);
  CHECK(refused.messages.size() == 1);
  Login other;
  other.user = "bob";
  other.rhost = "192.0.2.99";
  other.password = "secret";
  const LoginResult bob = RunLogin(env, other);
  CHECK(bob.auth == PAM_SUCCESS);
  CHECK(bob.account == PAM_SUCCESS);
  // A store error: the database path is a directory.
  Env broken("", "", env.dir());
  CHECK(RunLogin(broken, good).auth == PAM_SUCCESS);
}

std::string HookConfig(const std::string& hook) {
  return "[lockout]\nfailure_limit = 1\n\n[hooks]\non_block = [\"" + hook +
         "\"]\n";
}

// failure_limit = 1, the `lockout` lines, and the hook `event` (on_block,
// on_unblock) touching `out`.
std::string TouchHookConfig(const std::string& lockout,
                            const std::string& event, const std::string& out) {
  return "[lockout]\nfailure_limit = 1\n" + lockout + "\n[hooks]\n" + event +
         " = [\"/bin/sh\", \"-c\", \"touch " + out + "\"]\n";
}

TEST_CASE("no descriptor is left open after pam_end") {
  SetNow(1'800'000'000);
  Env env;
  const std::string out = env.dir() + "/hook.out";
  env.SetConfig(HookConfig(WriteRecorder(env, out)));
  // Nothing of libpam, pam_matrix or the module may stay open either.
  const std::map<int, std::string> before = OpenFds();
  LoginsOfEveryKind(env, out);
  const std::map<int, std::string> after = OpenFds();
  CHECK(after == before);
}

void Handler(int) {}

// sigset_t has room for more signals than the kernel fills in: compare
// the members, not the bytes.
bool SameSet(const sigset_t& a, const sigset_t& b) {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&a, sig) != sigismember(&b, sig)) return false;
  }
  return true;
}

bool SameAction(const struct sigaction& a, const struct sigaction& b) {
  return a.sa_handler == b.sa_handler && a.sa_flags == b.sa_flags &&
         SameSet(a.sa_mask, b.sa_mask);
}

TEST_CASE("signal dispositions and mask are unchanged after logins") {
  SetNow(1'800'000'000);
  Env env;
  const std::string out = env.dir() + "/hook.out";
  env.SetConfig(HookConfig(WriteRecorder(env, out)));
  // Host-process settings as sshd and sudo have them: handlers with
  // flags and masks, and a blocked signal.
  struct sigaction mine;
  memset(&mine, 0, sizeof(mine));
  mine.sa_handler = Handler;
  mine.sa_flags = SA_RESTART;
  sigemptyset(&mine.sa_mask);
  sigaddset(&mine.sa_mask, SIGTERM);
  struct sigaction saved_pipe, saved_chld;
  REQUIRE(sigaction(SIGPIPE, &mine, &saved_pipe) == 0);
  REQUIRE(sigaction(SIGCHLD, &mine, &saved_chld) == 0);
  sigset_t mask, saved_mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGUSR1);
  REQUIRE(sigprocmask(SIG_BLOCK, &mask, &saved_mask) == 0);

  struct sigaction pipe_before, chld_before;
  sigaction(SIGPIPE, nullptr, &pipe_before);
  sigaction(SIGCHLD, nullptr, &chld_before);
  sigset_t mask_before;
  sigprocmask(SIG_BLOCK, nullptr, &mask_before);

  LoginsOfEveryKind(env, out);

  struct sigaction pipe_after, chld_after;
  sigaction(SIGPIPE, nullptr, &pipe_after);
  sigaction(SIGCHLD, nullptr, &chld_after);
  sigset_t mask_after;
  sigprocmask(SIG_BLOCK, nullptr, &mask_after);
  CHECK(SameAction(pipe_before, pipe_after));
  CHECK(SameAction(chld_before, chld_after));
  CHECK(SameSet(mask_before, mask_after));
  CHECK(sigismember(&mask_after, SIGUSR1) == 1);
  CHECK((pipe_after.sa_handler == &Handler));
  CHECK((chld_after.sa_handler == &Handler));

  sigaction(SIGPIPE, &saved_pipe, nullptr);
  sigaction(SIGCHLD, &saved_chld, nullptr);
  sigprocmask(SIG_SETMASK, &saved_mask, nullptr);
}

TEST_CASE("a hook leaves no child and no zombie behind") {
  SetNow(1'800'000'000);
  for (const bool ignore_chld : {false, true}) {
    INFO("SIGCHLD ignored: ", ignore_chld);
    struct sigaction saved;
    if (ignore_chld) {
      struct sigaction ign;
      memset(&ign, 0, sizeof(ign));
      ign.sa_handler = SIG_IGN;
      sigaction(SIGCHLD, &ign, &saved);
    }
    Env env;
    const std::string out = env.dir() + "/hook.out";
    env.SetConfig(HookConfig(WriteRecorder(env, out)));
    REQUIRE(NoChildren());
    CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
    CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);  // Blocks: hook.
    // Back from the login, the process already has no child: the hook runs
    // under a detached supervisor.
    CHECK(NoChildren());
    REQUIRE(WaitForFile(out));
    CHECK(NoChildren());
    if (ignore_chld) sigaction(SIGCHLD, &saved, nullptr);
  }
}

// The soft and hard values of `name` ("Max processes") in /proc/PID/limits,
// as "Max processes 96363 96363".
std::string LimitLine(const std::string& pid, const std::string& name) {
  std::istringstream in(ReadFile("/proc/" + pid + "/limits"));
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name, 0) != 0) continue;
    std::istringstream words(line.substr(name.size()));
    std::string soft, hard;
    words >> soft >> hard;
    return name + " " + soft + " " + hard;
  }
  return name + " ?";
}

// Review of the hook events: the user who runs su also chooses
// RLIMIT_NPROC, RLIMIT_SIGPENDING and the OOM score adjustment (a user may
// raise their own to 1000), which fork and exec keep, and the hook kept
// them: a hook that drops root (runuser, setpriv) to reach a firewall API
// could not fork, and the hook was the OOM killer's first choice in an
// out-of-memory the user brings about in their own cgroup. As root the
// hook now starts with PID 1's process and signal limits, as a service
// does, and an OOM score adjustment of at most 0.
TEST_CASE(
    "a setuid caller's hook leaves the user's process limits and OOM score") {
  SetNow(1'800'000'000);
  Env env;
  const std::string out = env.dir() + "/hook.out";
  const std::string hook = env.dir() + "/limits-hook";
  WriteFile(hook,
            "#!/bin/sh\n"
            "{ for n in 'Max processes' 'Max pending signals'; do\n"
            "    grep \"^$n \" /proc/$$/limits | sed \"s/^$n *//\" |\n"
            "      { read soft hard _; echo \"$n $soft $hard\"; }\n"
            "  done\n"
            "  echo \"oom $(cat /proc/$$/oom_score_adj)\"\n"
            "} > '" +
                out + ".tmp'$$\nmv '" + out + ".tmp'$$ '" + out + "'\n",
            0755);
  env.SetConfig(HookConfig(hook));
  const std::string report = InChild([&] {
    struct rlimit procs, signals;
    getrlimit(RLIMIT_NPROC, &procs);
    getrlimit(RLIMIT_SIGPENDING, &signals);
    procs.rlim_cur = 1;
    signals.rlim_cur = 0;
    // ruid nobody, euid 0 (su run by nobody), with what that user set.
    const int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (setresuid(65534, 0, 0) != 0 || oom < 0 || write(oom, "1000", 4) != 4 ||
        setrlimit(RLIMIT_NPROC, &procs) != 0 ||
        setrlimit(RLIMIT_SIGPENDING, &signals) != 0) {
      _exit(2);
    }
    close(oom);
    std::string r;
    r += std::to_string(RunLogin(env, Login()).auth) + " ";
    r += std::to_string(RunLogin(env, Login()).auth);  // Blocks: hook.
    return r;
  });
  const std::string auth_err = std::to_string(PAM_AUTH_ERR);
  CHECK(report == auth_err + " " + auth_err);
  REQUIRE(WaitForFile(out));
  CHECK(ReadFile(out) == LimitLine("1", "Max processes") + "\n" +
                             LimitLine("1", "Max pending signals") +
                             "\noom 0\n");
}

TEST_CASE("hook arguments and subjects are never given to a shell") {
  SetNow(1'800'000'000);
  Env env;
  const std::string out = env.dir() + "/hook.out";
  const std::string pwned = env.dir() + "/pwned";
  // Host subjects are lower-cased: the host's command names a path with
  // no upper case.
  const std::string pwned_host =
      "/tmp/defender-pwned-" + std::to_string(getpid());
  const std::string hook = WriteRecorder(env, out);
  env.SetConfig(
      "[lockout]\nfailure_limit = 1\ndisable_user_lockout = true\n"
      "\n[hooks]\non_block = [\"" +
      hook + "\", \"; touch " + pwned + "\", \"$(touch " + pwned +
      ")\", \"`touch " + pwned + "`\", \"two words\"]\n");
  // The subject as stored: a host name's '/' is "%2F".
  std::string shown_host = pwned_host;
  for (size_t at; (at = shown_host.find('/')) != std::string::npos;) {
    shown_host.replace(at, 1, "%2F");
  }
  Login hostile;
  hostile.rhost = "$(touch " + pwned_host + ");`touch " + pwned_host + "`";
  CHECK(RunLogin(env, hostile).auth == PAM_AUTH_ERR);
  CHECK(RunLogin(env, hostile).auth == PAM_AUTH_ERR);  // Blocks the host.
  REQUIRE(WaitForFile(out));
  CHECK(ReadFile(out) == "; touch " + pwned + "\n" + "$(touch " + pwned +
                             ")\n" + "`touch " + pwned + "`\n" + "two words\n" +
                             "DEFENDER_EVENT=block\n"
                             "DEFENDER_KIND=host\n"
                             "DEFENDER_SERVICE=login\n"
                             "DEFENDER_SUBJECT=$(touch " +
                             shown_host + ");`touch " + shown_host + "`\n" +
                             "DEFENDER_UNTIL=1800000300\n");
  CHECK_FALSE(Exists(pwned));
  CHECK_FALSE(Exists(pwned_host));
}

// The process state a setuid caller controls, as text: limits, the two
// signals' actions, the mask, the umask and which of fds 0-2 are open.
std::string CallerState() {
  std::string out;
  for (const int r :
       {RLIMIT_FSIZE, RLIMIT_AS, RLIMIT_DATA, RLIMIT_CPU, RLIMIT_NOFILE}) {
    struct rlimit rl;
    getrlimit(r, &rl);
    out += "limit " + std::to_string(r) + " " + std::to_string(rl.rlim_cur) +
           "/" + std::to_string(rl.rlim_max) + "\n";
  }
  for (const int sig : {SIGXFSZ, SIGXCPU}) {
    struct sigaction sa;
    sigaction(sig, nullptr, &sa);
    out += "signal " + std::to_string(sig) + " " +
           (sa.sa_handler == SIG_IGN   ? "ign"
            : sa.sa_handler == SIG_DFL ? "dfl"
                                       : "handler") +
           " " + std::to_string(sa.sa_flags) + "\n";
  }
  sigset_t mask;
  sigprocmask(SIG_BLOCK, nullptr, &mask);
  out += "mask";
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&mask, sig) == 1) out += " " + std::to_string(sig);
  }
  const mode_t mode = umask(0);
  umask(mode);
  uid_t ruid, euid, suid;
  getresuid(&ruid, &euid, &suid);
  out += "\nuids " + std::to_string(ruid) + " " + std::to_string(euid) + " " +
         std::to_string(suid);
  out += "\numask " + std::to_string(mode) + "\nfds";
  for (int fd = 0; fd < 3; ++fd) {
    out += fcntl(fd, F_GETFD) == -1 ? " closed" : " open";
  }
  return out + "\n";
}

// alice logs in with a wrong password twice, then with the right one;
// returns "wrong=RC\nwrong=RC\nright=RC\n" with each login's result.
std::string WrongWrongRight(const Env& env) {
  Login good;
  good.password = "secret";
  std::string r;
  r += "wrong=" + std::to_string(RunLogin(env, Login()).auth) + "\n";
  r += "wrong=" + std::to_string(RunLogin(env, Login()).auth) + "\n";
  r += "right=" + std::to_string(RunLogin(env, good).auth) + "\n";
  return r;
}

// Issue 10 finding 1: a local user running a setuid program (su, sudo)
// chooses its rlimits, signal actions, umask and open descriptors. Here the
// process is setuid-like (real uid nobody, effective uid 0, as in su) and
// hostile: `ulimit -S -f 0` with SIGXFSZ ignored, SIGXFSZ blocked, umask
// 0777, fds 1 and 2 closed. Before the fix every store write failed with
// EFBIG and the failures were not counted (the correct password was then
// accepted). Now each failure counts, and after every step the process is
// exactly as the caller left it.
TEST_CASE(
    "a setuid caller's process state neither stops counting nor "
    "changes") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 1\n");
  // The store directory is a regular file.
  Env broken("", "", env.dir() + "/defender.toml");
  const std::string report = InChild([&] {
    // ruid nobody, euid 0: the ids of su run by nobody.
    if (setresuid(65534, 0, 0) != 0) _exit(2);
    struct rlimit fsize;
    getrlimit(RLIMIT_FSIZE, &fsize);
    fsize.rlim_cur = 0;
    setrlimit(RLIMIT_FSIZE, &fsize);
    signal(SIGXFSZ, SIG_IGN);
    sigset_t xfsz;
    sigemptyset(&xfsz);
    sigaddset(&xfsz, SIGXFSZ);
    sigprocmask(SIG_BLOCK, &xfsz, nullptr);
    umask(0777);
    close(1);
    close(2);
    const std::string before = CallerState();
    std::string r = WrongWrongRight(env);
    Login good;
    good.password = "secret";
    ClearLog();
    r += "broken=" + std::to_string(RunLogin(broken, good).auth) + "\n";
    r += LogText();
    const std::string after = CallerState();
    r += after == before ? "state unchanged\n"
                         : "state before:\n" + before + "after:\n" + after;
    return r;
  });
  INFO("report: ", report);
  const std::string auth_err = std::to_string(PAM_AUTH_ERR);
  CHECK(report.find("wrong=" + auth_err + "\nwrong=" + auth_err +
                    "\nright=" + auth_err + "\n") == 0);
  // A store error under a setuid caller fails closed.
  CHECK(report.find("broken=" + auth_err + "\n") != std::string::npos);
  CHECK(report.find("store unavailable (failing closed: setuid caller)") !=
        std::string::npos);
  CHECK(report.find("state unchanged\n") != std::string::npos);
  // What the module created under umask 0777 is private, not unreadable.
  for (const std::string& path : {env.dir() + "/state/subjects/u-616c696365",
                                  env.dir() + "/state/attempts.journal"}) {
    INFO("file: ", path);
    struct stat st;
    REQUIRE(stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
  }
  CHECK(Failures(env.db(), "user", "alice") == 2);
  CHECK(FindSubject(env.db(), "user", "alice")->blocked == 1);
  // The journal was written despite RLIMIT_FSIZE 0: the three attempts.
  CHECK(Attempts(env.db()).size() == 3);
}

// A local user who runs su to a blocked account again and again must not
// get that account's record lock each time (to freeze su while it holds
// it): a setuid caller's preauth decides a refusal without locks. Here the
// lock is held all along, and the refusal still comes at once.
TEST_CASE("a setuid caller's refused preauth takes no record lock") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 1\n");
  REQUIRE(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  REQUIRE(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  REQUIRE(FindSubject(env.db(), "user", "alice")->blocked == 1);
  const std::string record = env.dir() + "/state/subjects/u-616c696365";
  const int holder = open(record.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(holder >= 0);
  REQUIRE(flock(holder, LOCK_EX) == 0);
  const std::string report = InChild([&] {
    // ruid nobody, euid 0: the ids of su run by nobody.
    if (setresuid(65534, 0, 0) != 0) _exit(2);
    Login right;
    right.password = "secret";
    ClearLog();
    const LoginResult r = RunLogin(env, right);
    return "auth=" + std::to_string(r.auth) +
           (r.seconds < 2.0 ? " fast\n" : " slow\n") + LogText();
  });
  close(holder);
  INFO("report: ", report);
  CHECK(report.find("auth=" + std::to_string(PAM_AUTH_ERR) + " fast\n") == 0);
  CHECK(report.find("refused user alice from 192.0.2.10: user alice is "
                    "blocked") != std::string::npos);
  CHECK(report.find("store busy") == std::string::npos);
}

// The scheduling of process `pid` (0: this one): "nice N policy P ioclass
// C", read from /proc/PID/stat (fields 19 and 41) and ioprio_get.
std::string Scheduling(pid_t pid) {
  const pid_t who = pid == 0 ? getpid() : pid;
  std::string stat = ReadFile("/proc/" + std::to_string(who) + "/stat");
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return "no stat";
  std::vector<std::string> fields;  // fields[0] is field 3 (the state).
  size_t at = close + 2;
  while (at < stat.size()) {
    const size_t space = stat.find(' ', at);
    fields.push_back(stat.substr(at, space - at));
    if (space == std::string::npos) break;
    at = space + 1;
  }
  if (fields.size() < 39) return "short stat";
  const long ioprio = syscall(SYS_ioprio_get, /*IOPRIO_WHO_PROCESS=*/1, who);
  return "nice " + fields[16] + " policy " + fields[38] + " ioclass " +
         std::to_string(ioprio < 0 ? -1 : ioprio >> 13);
}

// A local user could start su with SCHED_IDLE, nice 19 and an idle I/O
// class beside busy loops of their own, so that a Redis step missed its
// deadline when they chose (redis.on_error then decides: "open" allows).
// While the guard holds, the process runs at nice 0 with the default
// policy and I/O class; after the step it has the caller's again. The
// authfail step is held on alice's record lock while its scheduling is
// read from outside.
TEST_CASE("a setuid caller's step runs at the default priority") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 5\n");
  REQUIRE(RunLogin(env, Login()).auth == PAM_AUTH_ERR);  // Makes the record.
  const std::string record = env.dir() + "/state/subjects/u-616c696365";
  const int holder = open(record.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(holder >= 0);
  REQUIRE(flock(holder, LOCK_EX) == 0);
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(out[0]);
    close(holder);  // The lock stays the parent's.
    // ruid nobody, euid 0 (su run by nobody), as idle as a user can make it.
    const struct sched_param none = {};
    if (setresuid(65534, 0, 0) != 0 || setpriority(PRIO_PROCESS, 0, 19) != 0 ||
        sched_setscheduler(0, SCHED_IDLE, &none) != 0 ||
        syscall(SYS_ioprio_set, 1, 0, 3 << 13) != 0) {
      _exit(2);
    }
    const std::string before = Scheduling(0);
    if (write(out[1], "!", 1) != 1) _exit(3);  // Set: the parent may look.
    const int auth = RunLogin(env, Login()).auth;
    const std::string report = "auth=" + std::to_string(auth) + "\nbefore " +
                               before + "\nafter " + Scheduling(0) + "\n";
    _exit(write(out[1], report.data(), report.size()) ==
                  static_cast<ssize_t>(report.size())
              ? 0
              : 3);
  }
  close(out[1]);
  char ready = 0;
  REQUIRE(read(out[0], &ready, 1) == 1);
  // The step waiting for the lock: the guard holds.
  std::string during;
  for (int i = 0; i < 400; ++i) {
    during = Scheduling(pid);
    // The three are set one after the other: wait for all of them.
    if (during == "nice 0 policy 0 ioclass 0") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  close(holder);
  std::string report;
  char buf[512];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) report.append(buf, n);
  close(out[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(during == "nice 0 policy 0 ioclass 0");  // SCHED_OTHER, no class.
  CHECK(report == "auth=" + std::to_string(PAM_AUTH_ERR) +
                      "\nbefore nice 19 policy 5 ioclass 3"
                      "\nafter nice 19 policy 5 ioclass 3\n");
  CHECK(Failures(env.db(), "user", "alice") == 2);
}

// Every local login has the origin "local". A local user who ran su to
// another account with wrong passwords was counted on that account's pair
// with "local", which the owner's own sudo had remembered, and so blocked
// the owner's local logins: the pair rule, meant to keep an attacker from
// locking the owner out, did the opposite. A setuid caller's local login
// run by another user than the account (real uid against the account's
// uid; PAM_RUSER, which some setuid programs take from their caller, is
// not trusted) now has no pair subject: it blocks the user, and the
// owner's remembered local origin still lets the owner in.
TEST_CASE("su by another local user cannot lock the owner out locally") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 3\n");
  const struct passwd* games = getpwnam("games");
  REQUIRE(games != nullptr);
  const uid_t owner_uid = games->pw_uid;
  const std::string report = InChild([&] {
    // A setuid su or sudo (effective uid 0) run by the owner, then by
    // nobody, then by the owner again.
    const auto run_by = [&](uid_t uid, const Login& l) {
      if (setresuid(uid, 0, 0) != 0) _exit(2);
      return std::to_string(RunLogin(env, l).auth);
    };
    Login owner;
    owner.user = "games";
    owner.rhost.reset();
    owner.tty = "pts/1";
    owner.password = "secret";
    std::string r = "owner=" + run_by(owner_uid, owner);
    Login other = owner;    // su games, run by nobody.
    other.ruser = "games";  // As polkit's setuid helper sets it.
    other.password = "wrong";
    for (int i = 0; i < 5; ++i) r += " other=" + run_by(65534, other);
    r += " owner=" + run_by(owner_uid, owner);
    other.password = "secret";  // Learnt: still blocked for nobody.
    r += " other=" + run_by(65534, other);
    return r;
  });
  const std::string ok = std::to_string(PAM_SUCCESS);
  const std::string err = std::to_string(PAM_AUTH_ERR);
  CHECK(report == "owner=" + ok + " other=" + err + " other=" + err +
                      " other=" + err + " other=" + err + " other=" + err +
                      " owner=" + ok + " other=" + err);
  CHECK(FindSubject(env.db(), "user", "games")->blocked == 1);
  // nobody's failures never counted on the owner's pair.
  const auto pair = FindSubject(env.db(), "pair", "games@local");
  CHECK((!pair || (pair->blocked == 0 && pair->failures == 0)));
}

// A setgid program (real gid the caller's, effective gid another) is as
// much in the caller's hands as a setuid one: a store error fails closed
// there too. With all ids equal (sshd, login) it fails open. A setgid
// program run by a user (euid not 0) can never use root's store, and may
// read password hashes (group shadow): every step refuses there, even a
// configuration only root can read (which would otherwise fail open).
TEST_CASE("a setgid caller fails closed on a store error, a plain one open") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 3\n");
  // The store directory is a regular file.
  Env broken("", "", env.dir() + "/defender.toml");
  enum class Ids { kPlain, kSetgidByRoot, kSetgidByUser };
  const auto run = [&](Ids ids) {
    return InChild([&] {
      if (ids != Ids::kPlain && setresgid(65534, 0, 0) != 0) _exit(2);
      if (ids == Ids::kSetgidByUser && setresuid(65534, 65534, 65534) != 0) {
        _exit(2);
      }
      Login good;
      good.password = "secret";
      ClearLog();
      const int auth = RunLogin(broken, good).auth;
      return "auth=" + std::to_string(auth) + "\n" + LogText();
    });
  };
  const std::string setgid = run(Ids::kSetgidByRoot);
  INFO("setgid: ", setgid);
  CHECK(setgid.find("auth=" + std::to_string(PAM_AUTH_ERR) + "\n") == 0);
  CHECK(setgid.find("store unavailable (failing closed: setuid caller)") !=
        std::string::npos);
  const std::string plain = run(Ids::kPlain);
  INFO("plain: ", plain);
  CHECK(plain.find("auth=" + std::to_string(PAM_SUCCESS) + "\n") == 0);
  CHECK(plain.find("store unavailable (failing open)") != std::string::npos);
  // A configuration only root can read: without the refusal, a
  // configuration error, which fails open.
  REQUIRE(chmod(broken.conf().c_str(), 0600) == 0);
  const std::string by_user = run(Ids::kSetgidByUser);
  INFO("setgid, run by a user: ", by_user);
  CHECK(by_user.find("auth=" + std::to_string(PAM_AUTH_ERR) + "\n") == 0);
  CHECK(by_user.find("refusing: a setgid program, or one setuid to a user "
                     "other than root, cannot use the store") !=
        std::string::npos);
}

// A local user who runs su may stop it at any moment (SIGSTOP, or Ctrl-Z at
// the terminal). Stopped while it held a record's lock, it made every login
// of the same user (root, from anywhere) wait out the lock and go
// uncounted. While the module runs under a setuid caller, the caller's user
// may not signal the process (kill(2) says EPERM) and the terminal's stop
// signals are blocked; after the step both are as they were.
TEST_CASE("the user who runs a setuid caller cannot stop it inside a step") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 1\n");
  const std::string report = InChild([&] {
    // ruid nobody, euid 0: the ids of su run by nobody.
    if (setresuid(65534, 0, 0) != 0) _exit(2);
    const std::string before = CallerState();
    std::string r;
    RunLogin(env, Login());
    RunLogin(env, Login());  // alice is blocked.
    Login refused;
    refused.password = "secret";
    // The lockout message comes while the module's step runs.
    refused.on_message = [&](const std::string&) {
      uid_t ruid, euid, suid;
      getresuid(&ruid, &euid, &suid);
      sigset_t mask;
      pthread_sigmask(SIG_BLOCK, nullptr, &mask);
      // nobody tries to signal this process (signal 0: the permission
      // check alone, nothing is sent).
      const pid_t self = getpid();
      const pid_t pid = fork();
      if (pid == 0) {
        if (setresuid(65534, 65534, 65534) != 0) _exit(3);
        _exit(kill(self, 0) == 0 ? 0 : errno == EPERM ? 1 : 4);
      }
      int status = 0;
      waitpid(pid, &status, 0);
      const int kill_result = WIFEXITED(status) ? WEXITSTATUS(status) : 5;
      r += "inside: ruid " + std::to_string(ruid) +
           (sigismember(&mask, SIGTSTP) == 1 ? ", SIGTSTP blocked"
                                             : ", SIGTSTP open") +
           (kill_result == 1   ? ", kill by nobody: EPERM\n"
            : kill_result == 0 ? ", kill by nobody: allowed\n"
                               : ", kill by nobody: ?\n");
    };
    r += "refused=" + std::to_string(RunLogin(env, refused).auth) + "\n";
    const std::string after = CallerState();
    r += after == before ? "state unchanged\n"
                         : "state before:\n" + before + "after:\n" + after;
    return r;
  });
  INFO("report: ", report);
  CHECK(report.find("inside: ruid 0, SIGTSTP blocked, kill by nobody: "
                    "EPERM\n") != std::string::npos);
  CHECK(report.find("refused=" + std::to_string(PAM_AUTH_ERR) + "\n") !=
        std::string::npos);
  CHECK(report.find("state unchanged\n") != std::string::npos);
}

// Issue 10 finding (killed su): a local user who runs the setuid su may
// SIGKILL it between the password check and authfail, so a wrong guess
// was never counted and the guesses were unlimited. Under a setuid caller
// preauth now counts each attempt before the password is checked; a kill
// is a handle that ends after preauth, with no authfail or authsucc.
TEST_CASE("a setuid caller's attempts count before the password is checked") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 2\n");
  env.WriteService("killed",
                   "auth required " + env.ModuleLine("preauth") + "\n");
  const std::string report = InChild([&] {
    // ruid nobody, euid 0: the ids of su run by nobody.
    if (setresuid(65534, 0, 0) != 0) _exit(2);
    // The password decides: the right one after `failure_limit` failures.
    std::string r = WrongWrongRight(env);
    Login good;
    good.password = "secret";
    Login killed;
    killed.service = "killed";
    for (int i = 0; i < 3; ++i) {
      r += "killed=" + std::to_string(RunLogin(env, killed).auth) + "\n";
    }
    r +=
        "counted=" + std::to_string(Failures(env.db(), "user", "alice")) + "\n";
    r += "right=" + std::to_string(RunLogin(env, good).auth) + "\n";
    return r;
  });
  const std::string auth_err = std::to_string(PAM_AUTH_ERR);
  const std::string ok = std::to_string(PAM_SUCCESS);
  CHECK(report == "wrong=" + auth_err + "\nwrong=" + auth_err +
                      "\nright=" + ok + "\nkilled=" + ok + "\nkilled=" + ok +
                      "\nkilled=" + ok + "\ncounted=3\nright=" + auth_err +
                      "\n");
  const std::optional<SubjectRow> alice =
      FindSubject(env.db(), "user", "alice");
  REQUIRE(alice);
  CHECK(alice->failures == 3);
  CHECK(alice->blocked == 1);
  CHECK(alice->expires == 1'800'000'000 + 300);
  CHECK(FindSubject(env.db(), "host", "192.0.2.10")->blocked == 1);
  CHECK(Attempts(env.db()).back().result == "refused");
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/true);
}

namespace hardening {
namespace {

// Review of the events: a host process ended by a signal after the step
// wrote a block and before it announced it (su's terminal: ^C, hangup;
// sshd's SIGTERM to its PAM process when the client goes) left the block
// written and never announced: no syslog line, no hook. In this loop a
// SIGTERM sent as soon as the record was written did so 286 times in 300.
// Such signals are held from before the store write to after Announce.
//
// What `rounds` logins did when each was ended by `sig` as soon as the
// step wrote alice's record (inotify; a varying spin after it), with
// failure_limit = 1, the `lockout` lines and the `hook` that writes
// `<dir>/hook.out`: `setup` runs first in each fresh environment, `login`
// is the one ended.
// A change counts as made when alice's row `changed` says so, and as
// announced when the hook ran.
struct KillCounts {
  int announced = 0;
  int unannounced = 0;
  int unchanged = 0;
};
KillCounts KillAfterWrite(
    int sig, int rounds, const std::string& lockout, const std::string& hook,
    const std::function<void(const Env&)>& setup, const Login& login,
    const std::function<bool(const std::optional<SubjectRow>&)>& changed) {
  KillCounts counts;
  for (int i = 0; i < rounds; ++i) {
    Env env;
    const std::string out = env.dir() + "/hook.out";
    env.SetConfig(TouchHookConfig(lockout, hook, out));
    setup(env);
    const int ino = inotify_init1(IN_CLOEXEC);
    REQUIRE(inotify_add_watch(
                ino, (env.dir() + "/state/subjects/u-616c696365").c_str(),
                IN_MODIFY) >= 0);
    const pid_t pid = fork();
    if (pid == 0) {
      signal(sig, SIG_DFL);  // Not the test framework's handler.
      RunLogin(env, login);
      _exit(0);
    }
    pollfd written{ino, POLLIN, 0};
    const bool wrote = poll(&written, 1, 5000) == 1;
    char buf[4096];
    if (wrote) REQUIRE(read(ino, buf, sizeof buf) > 0);
    for (int spin = 0; spin < (i % 20) * 300; ++spin) {
      asm volatile("" ::: "memory");  // A spin the compiler keeps.
    }
    kill(pid, sig);
    int status = 0;
    waitpid(pid, &status, 0);
    close(ino);
    REQUIRE_MESSAGE(wrote, "the login did not write alice's record: ", status);
    // The hook is detached from the login: give it time to run.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (!changed(FindSubject(env.db(), "user", "alice"))) {
      ++counts.unchanged;
    } else if (Exists(out)) {
      ++counts.announced;
    } else {
      ++counts.unannounced;
    }
  }
  return counts;
}

// alice fails once (su: no remote host), and the login ended fails again
// and blocks her.
KillCounts KillAfterBlock(int sig, int rounds) {
  Login login;
  login.rhost = "";  // su: a user subject only.
  return KillAfterWrite(
      sig, rounds, "", "on_block",
      [&](const Env& env) {
        REQUIRE(RunLogin(env, login).auth == PAM_AUTH_ERR);
      },
      login,
      [](const std::optional<SubjectRow>& row) {
        return row && row->blocked == 1;
      });
}

TEST_CASE("a host killed right after a block was written still announces it") {
  SetNow(1'800'000'000);
  const KillCounts c = KillAfterBlock(SIGTERM, 40);
  MESSAGE("blocked, hook ran: ", c.announced,
          "; blocked, no hook: ", c.unannounced,
          "; not blocked: ", c.unchanged);
  CHECK(c.unannounced == 0);
  CHECK(c.unchanged == 0);
}

// Review: a user who runs a setuid su can still have signals delivered
// inside the step, whatever its ids: the interval timers armed before
// execve survive it (SIGALRM, SIGVTALRM, SIGPROF), and the kernel sends
// their signals without the permission check of kill(2). SIGPROF or
// SIGVTALRM in the window left the block unannounced 27 and 28 times in
// 40. Every signal whose default action ends a process is held, but for
// the synchronous faults: the user signals and a real-time one too.
TEST_CASE("a host ended by any terminating signal after a block announces it") {
  SetNow(1'800'000'000);
  for (const int sig : {SIGPROF, SIGVTALRM, SIGALRM, SIGUSR1, SIGRTMIN + 3}) {
    CAPTURE(sig);
    const KillCounts c = KillAfterBlock(sig, 15);
    CHECK(c.unannounced == 0);
    CHECK(c.unchanged == 0);
    CHECK(c.announced == 15);
  }
}

// As su runs it: the caller (ruid nobody, euid root) armed ITIMER_PROF
// before the login, and nobody sends anything. Before the fix 15 of 300
// such logins left the block unannounced.
TEST_CASE(
    "an interval timer armed by su's caller cannot end a step unannounced") {
  SetNow(1'800'000'000);
  Login login;
  login.rhost = "";
  // A fresh store where alice failed once, and the hook's file.
  const auto set_up = [&](Env* env) {
    const std::string out = env->dir() + "/hook.out";
    env->SetConfig(TouchHookConfig("", "on_block", out));
    REQUIRE(RunLogin(*env, login).auth == PAM_AUTH_ERR);
    return out;
  };
  // The failure that blocks her, under su's ids, with ITIMER_PROF armed to
  // `micros` of CPU time (0: none); returns the child's CPU time.
  const auto blocking_login = [&](const Env& env, long micros) {
    const pid_t pid = fork();
    if (pid == 0) {
      signal(SIGPROF, SIG_DFL);
      if (setresuid(65534, 0, 0) != 0) _exit(2);
      itimerval timer{};
      timer.it_value.tv_sec = micros / 1'000'000;
      timer.it_value.tv_usec = micros % 1'000'000;
      setitimer(ITIMER_PROF, &timer, nullptr);
      RunLogin(env, login);
      _exit(0);
    }
    int status = 0;
    rusage ru{};
    wait4(pid, &status, 0, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000L +
           ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
  };
  // What that login costs in this build (a sanitizer's is many times
  // slower): the timers below fire from 1% to 100% of it, before the
  // block in some logins and after it in others.
  long cpu = 0;
  {
    Env env;
    set_up(&env);
    cpu = blocking_login(env, 0);
  }
  REQUIRE(cpu > 0);
  int announced = 0, unannounced = 0;
  for (int i = 0; i < 100; ++i) {
    Env env;
    const std::string out = set_up(&env);
    blocking_login(env, std::max(1L, cpu * (i + 1) / 100));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const auto row = FindSubject(env.db(), "user", "alice");
    if (row && row->blocked == 1) {
      ++(Exists(out) ? announced : unannounced);
    }
  }
  MESSAGE("a login's CPU: ", cpu, " us; blocked, hook ran: ", announced,
          "; blocked, no hook: ", unannounced);
  CHECK(unannounced == 0);
  CHECK(announced > 0);
}

// A success can clear a block that did not refuse it: in by_user_and_host
// mode a blocked user from a host that is not blocked logs in, and her
// block goes. The unblock is announced as surely as a block: authsucc held
// no signal, and a SIGTERM right after its write left the unblock
// unannounced.
TEST_CASE("a host killed right after a success cleared a block announces it") {
  SetNow(1'800'000'000);
  Login owner;
  owner.password = "secret";
  const KillCounts c = KillAfterWrite(
      SIGTERM, 20, "by_user_and_host = true\nremember_hosts_days = 0\n",
      "on_unblock",
      [&](const Env& env) {
        Login attacker;
        attacker.rhost = "198.51.100.7";
        REQUIRE(RunLogin(env, attacker).auth == PAM_AUTH_ERR);
        REQUIRE(RunLogin(env, attacker).auth == PAM_AUTH_ERR);
        REQUIRE(FindSubject(env.db(), "user", "alice")->blocked == 1);
      },
      owner,
      // Reset: the emptied record is no subject any more.
      [](const std::optional<SubjectRow>& row) { return !row; });
  MESSAGE("unblocked, hook ran: ", c.announced,
          "; unblocked, no hook: ", c.unannounced,
          "; still blocked: ", c.unchanged);
  CHECK(c.unannounced == 0);
  CHECK(c.unchanged == 0);
}
}  // namespace
}  // namespace hardening
