// Concurrent logins in separate processes lose no count.
#include <doctest/doctest.h>
#include <security/pam_appl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/pam/pam_harness.h"
#include "tests/unit/printers.h"

namespace defender::testing {
namespace {

TEST_CASE("failures from 8 processes at once are counted exactly") {
  constexpr int kProcs = 8;
  constexpr int kEach = 25;
  PamHarness h(ModulePath(true), "[lockout]\nfailure_limit = 100000\n");
  // Create the database first so every child finds the schema.
  h.Direct(false, {"preauth"}, "alice", "192.0.2.1");
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int bad = 0;
      for (int i = 0; i < kEach; ++i) {
        // A full login through the stack: preauth, password, authfail.
        if (h.Login("alice", "192.0.2.1", "wrong").rc != PAM_AUTH_ERR) ++bad;
      }
      _exit(bad);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  const std::string total = std::to_string(kProcs * kEach);
  CHECK(h.Query("SELECT failures FROM subjects ORDER BY kind = 'host'") ==
        std::vector<std::string>{total, total});
  CHECK(h.QueryAttempts(
            "SELECT count(*) FROM attempts WHERE result = 'failure'") ==
        std::vector<std::string>{total});
  CHECK(h.Query("PRAGMA a.integrity_check") == std::vector<std::string>{"ok"});
}

TEST_CASE("concurrent failures past the limit block exactly once") {
  constexpr int kProcs = 6;
  PamHarness h(ModulePath(true), "[lockout]\nfailure_limit = 3\n");
  h.Direct(false, {"preauth"}, "bob", "");
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (int i = 0; i < 5; ++i) h.Direct(false, {"authfail"}, "bob", "");
      _exit(0);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) waitpid(pid, nullptr, 0);
  // The counter froze at the blocking failure: 4, and one block recorded.
  CHECK(h.Query("SELECT failures || ' ' || blocked FROM subjects") ==
        std::vector<std::string>{"4 1"});
  CHECK(h.Query("SELECT count(*) FROM blocks") ==
        std::vector<std::string>{"1"});
  CHECK(h.QueryAttempts("SELECT count(*) FROM attempts") ==
        std::vector<std::string>{std::to_string(kProcs * 5)});
}

TEST_CASE("processes racing to create the database all succeed") {
  constexpr int kProcs = 8;
  PamHarness h(ModulePath(true), "[lockout]\nfailure_limit = 1000\n");
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      _exit(h.Direct(false, {"authfail"}, "carol", "").rc == PAM_AUTH_ERR &&
                    h.Direct(false, {"authsucc"}, "dave", "").rc == PAM_SUCCESS
                ? 0
                : 1);
    }
    kids.push_back(pid);
  }
  for (pid_t pid : kids) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(h.Query("SELECT failures FROM subjects") ==
        std::vector<std::string>{std::to_string(kProcs)});
  CHECK(h.QueryAttempts(
            "SELECT result, count(*) FROM attempts GROUP BY result") ==
        std::vector<std::string>{"failure", "success"});
  CHECK(h.QueryAttempts("SELECT count(*) FROM attempts") ==
        std::vector<std::string>{std::to_string(2 * kProcs)});
  CHECK(h.Query("PRAGMA a.journal_mode") == std::vector<std::string>{"wal"});
}

}  // namespace
}  // namespace defender::testing
