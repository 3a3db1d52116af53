// The local store's directories, kept in the PAM handle from one step to
// the next (common/store_dir.h, pam_defender/module.cc), through the real
// libpam: the host program's own descriptors are never used or closed, a
// removed directory is not written to, and a forked child opens its own.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "tests/pam/pam_harness.h"
#include "tests/support/files.h"
#include "tests/support/pam_stack.h"

namespace defender::testing {
namespace {

// The descriptors of this process that lead to `path`.
std::set<int> FdsOf(const std::string& path) {
  std::set<int> out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec);
    if (!ec && target == path) out.insert(std::stoi(e.path().filename()));
  }
  return out;
}

std::string FailuresOf(const PamHarness& h, const std::string& subject) {
  const std::vector<std::string> rows = h.Query(
      "SELECT failures FROM subjects WHERE subject = '" + subject + "'");
  return rows.empty() ? "none" : rows[0];
}

// One wrong password on `pamh` (preauth, then authfail).
int Fail(pam_handle_t* pamh) { return pam_authenticate(pamh, 0); }

TEST_CASE("a handle keeps the store's directories from one step to the next") {
  PamHarness h(ModulePath(true), "[lockout]\nfailure_limit = 100\n");
  const std::string state = h.dir() + "/state";
  PamConversation talk("wrong");
  pam_handle_t* pamh = h.Start("alice", "192.0.2.1", &talk);
  REQUIRE(pamh != nullptr);
  CHECK(FdsOf(state).empty());
  CHECK(Fail(pamh) == PAM_AUTH_ERR);
  const std::set<int> top = FdsOf(state);
  const std::set<int> subjects = FdsOf(state + "/subjects");
  CHECK(top.size() == 1);
  CHECK(subjects.size() == 1);

  SUBCASE("the next step uses them, and pam_end closes them") {
    CHECK(Fail(pamh) == PAM_AUTH_ERR);
    CHECK(FdsOf(state) == top);
    CHECK(FdsOf(state + "/subjects") == subjects);
    CHECK(FailuresOf(h, "alice") == "2");
    pam_end(pamh, PAM_SUCCESS);
    CHECK(FdsOf(state).empty());
    CHECK(FdsOf(state + "/subjects").empty());
  }

  SUBCASE("descriptors the host closed and reused are left to the host") {
    // The host closes every descriptor it did not open and opens its own
    // directory at the same numbers.
    const std::string other = h.dir() + "/other";
    REQUIRE(mkdir(other.c_str(), 0700) == 0);
    const int mine = open(other.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    REQUIRE(mine >= 0);
    for (int fd : top) REQUIRE(dup2(mine, fd) == fd);
    for (int fd : subjects) REQUIRE(dup2(mine, fd) == fd);
    CHECK(Fail(pamh) == PAM_AUTH_ERR);
    CHECK(FailuresOf(h, "alice") == "2");  // Counted in the store.
    CHECK(std::filesystem::is_empty(other));
    pam_end(pamh, PAM_SUCCESS);
    // Still open, still the host's.
    for (int fd : top) CHECK(FdsOf(other).count(fd) == 1);
    for (int fd : subjects) CHECK(FdsOf(other).count(fd) == 1);
    CHECK(FdsOf(state).empty());
    for (int fd : top) close(fd);
    for (int fd : subjects) close(fd);
    close(mine);
  }

  SUBCASE("a store removed between steps is made again, not written gone") {
    std::filesystem::remove_all(state);
    CHECK(Fail(pamh) == PAM_AUTH_ERR);
    CHECK(FailuresOf(h, "alice") == "1");  // The new store's first.
    CHECK(FdsOf(state).size() == 1);
    pam_end(pamh, PAM_SUCCESS);
    CHECK(FdsOf(state).empty());
  }

  SUBCASE("a store made writable by others between steps is refused") {
    REQUIRE(chmod((state + "/subjects").c_str(), 0777) == 0);
    CHECK(Fail(pamh) == PAM_AUTH_ERR);     // The password module's answer.
    CHECK(FailuresOf(h, "alice") == "1");  // Not counted there.
    REQUIRE(chmod((state + "/subjects").c_str(), 0700) == 0);
    pam_end(pamh, PAM_SUCCESS);
  }

  SUBCASE("a forked child opens its own and closes only its copies") {
    int status = -1;
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // No doctest assertion here: the exit code says what went wrong.
      if (Fail(pamh) != PAM_AUTH_ERR) _exit(10);
      const std::set<int> now = FdsOf(state);
      // The inherited copies replaced by the child's own.
      if (now.size() != 1 || now == top) _exit(11);
      pam_end(pamh, PAM_SUCCESS);
      _exit(FdsOf(state).empty() ? 0 : 12);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(status == 0);
    CHECK(FailuresOf(h, "alice") == "2");
    // The parent's are untouched and still used.
    CHECK(FdsOf(state) == top);
    CHECK(Fail(pamh) == PAM_AUTH_ERR);
    CHECK(FdsOf(state) == top);
    CHECK(FailuresOf(h, "alice") == "3");
    pam_end(pamh, PAM_SUCCESS);
  }
}

}  // namespace
}  // namespace defender::testing
