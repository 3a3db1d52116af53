// Many processes failing logins on one store at once, some killed with
// SIGKILL in the middle of a login: the database stays intact, every
// completed login is counted exactly once, and no lock is left behind.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>
#include <vector>

#include "harness.h"

namespace hardening {
namespace {

constexpr int kProcesses = 8;
constexpr int kLoginsEach = 30;
constexpr int kKilled = 3;  // Processes 0..kKilled-1 are killed.

struct Child {
  pid_t pid = -1;
  int pipe_fd = -1;  // One byte per completed login.
  int completed = 0;
};

// Reads what `c` has reported so far; blocks when `wait` until one byte
// arrives or the pipe closes.
void Drain(Child* c, bool wait) {
  char buf[64];
  for (;;) {
    const ssize_t n = read(c->pipe_fd, buf, wait ? 1 : sizeof(buf));
    if (n <= 0) return;
    c->completed += static_cast<int>(n);
    if (wait) return;
  }
}

TEST_CASE("concurrent failing logins with SIGKILLs lose no completed count") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 1000000\nattempt_cooloff_time = 0\n");
  // Create the database before the storm.
  Login first;
  first.user = "warmup";
  REQUIRE(RunLogin(env, first).auth == PAM_AUTH_ERR);

  std::vector<Child> children(kProcesses);
  for (int i = 0; i < kProcesses; ++i) {
    int fds[2];
    REQUIRE(pipe2(fds, O_CLOEXEC) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      Login victim;
      victim.user = "victim";
      victim.rhost = "203.0.113.5";
      for (int k = 0; k < kLoginsEach; ++k) {
        if (RunLogin(env, victim).auth != PAM_AUTH_ERR) _exit(3);
        if (write(fds[1], "x", 1) != 1) _exit(4);
      }
      _exit(0);
    }
    close(fds[1]);
    children[i].pid = pid;
    children[i].pipe_fd = fds[0];
  }

  // Kill the first kKilled processes at random moments inside a login.
  std::mt19937 rng(std::random_device{}());
  for (int i = 0; i < kKilled; ++i) {
    Child& c = children[i];
    const int after = 3 + static_cast<int>(rng() % 10);
    while (c.completed < after) {
      const int before = c.completed;
      Drain(&c, true);
      REQUIRE(c.completed > before);  // The child must still be running.
    }
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    REQUIRE(kill(c.pid, SIGKILL) == 0);
  }
  for (int i = 0; i < kProcesses; ++i) {
    Child& c = children[i];
    int status = 0;
    REQUIRE(waitpid(c.pid, &status, 0) == c.pid);
    Drain(&c, false);
    close(c.pipe_fd);
    if (i < kKilled) {
      CHECK(WIFSIGNALED(status));
    } else {
      CHECK(WIFEXITED(status));
      CHECK(WEXITSTATUS(status) == 0);
      CHECK(c.completed == kLoginsEach);
    }
  }
  int completed = 0;
  for (const Child& c : children) completed += c.completed;
  MESSAGE("completed logins: ", completed);

  CHECK(IntegrityCheck(env.db()) == "ok");
  // No lock is left: a writer gets the lock at once.
  CHECK(ExecSql(env.db(), "BEGIN IMMEDIATE", /*busy_timeout_ms=*/0));

  const int64_t user = Failures(env.db(), "user", "victim");
  const int64_t host = Failures(env.db(), "host", "203.0.113.5");
  int64_t logged = 0;
  for (const AttemptRow& a : Attempts(env.db())) {
    if (a.user == "victim" && a.result == "failure") ++logged;
  }
  // Each login's counters and attempt row commit together, and a killed
  // process can have committed at most the login it was in.
  CHECK(user == logged);
  CHECK(host == logged);
  CHECK(user >= completed);
  CHECK(user <= completed + kKilled);

  // Logins go on normally.
  Login alice;
  alice.password = "secret";
  const LoginResult ok = RunLogin(env, alice);
  CHECK(ok.auth == PAM_SUCCESS);
  CHECK(ok.seconds < 2.0);
  CHECK(RunLogin(env, Login()).auth == PAM_AUTH_ERR);
  CHECK(Failures(env.db(), "user", "alice") == 1);
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
