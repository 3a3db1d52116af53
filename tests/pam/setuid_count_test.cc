// Under a setuid caller (su, sudo) preauth counts an attempt before its
// password is checked, and authfail concludes it (doc/DESIGN.md §3.1, §7).
// The PAM handle keeps which counters preauth counted on (their
// generations), so that a conclusion counts exactly when its own count is
// gone: taken by a reset while the password was checked, even after
// another attempt started a new counter and was killed before authfail.
// The module sees a setuid caller when the real uid is not the effective
// one: the test process takes nobody's real uid around the su-like logins.
#include <doctest/doctest.h>
#include <security/pam_appl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "tests/pam/pam_harness.h"
#include "tests/support/held_login.h"
#include "tests/unit/printers.h"

namespace defender::testing {
namespace {

// While it lives, the process (every thread) runs with nobody's real uid
// and root's effective uid, as su does.
class SetuidCaller {
 public:
  SetuidCaller() {
    REQUIRE(setresuid(65534, static_cast<uid_t>(-1), static_cast<uid_t>(-1)) ==
            0);
  }
  ~SetuidCaller() {
    setresuid(0, static_cast<uid_t>(-1), static_cast<uid_t>(-1));
  }
  SetuidCaller(const SetuidCaller&) = delete;
  SetuidCaller& operator=(const SetuidCaller&) = delete;
};

std::vector<std::string> UserFailures(const PamHarness& h) {
  return h.Query("SELECT failures FROM subjects WHERE kind = 'user'");
}

TEST_CASE(
    "setuid: a guess held across a reset and one killed after it count "
    "twice") {
  REQUIRE(geteuid() == 0);
  PamHarness h(ModulePath(), "", "");
  // An su whose user kills it after the password check: preauth runs,
  // authfail never does.
  h.WriteService("killed", "auth required " + h.module() +
                               " preauth conf=" + h.config_path() +
                               "\nauth required pam_deny.so\n");
  std::unique_ptr<HeldLogin> held;
  {
    SetuidCaller caller;
    held = std::make_unique<HeldLogin>([&](PamConversation* talk) {
      return h.Start("alice", "192.0.2.1", talk);
    });
    REQUIRE(held->at_prompt());
  }
  CHECK(UserFailures(h) == std::vector<std::string>{"1"});
  // alice logs in elsewhere while the held guess is checked: a reset.
  CHECK(h.Login("alice", "192.0.2.2", "right").rc == PAM_SUCCESS);
  CHECK(UserFailures(h) == std::vector<std::string>{});
  SetuidCaller caller;
  CHECK(h.Login("alice", "192.0.2.3", "wrong", "killed").rc == PAM_AUTH_ERR);
  CHECK(UserFailures(h) == std::vector<std::string>{"1"});
  // The held guess concludes: its count went with the reset, so it counts
  // now; the killed one's stays.
  CHECK(held->Answer("wrong").rc == PAM_AUTH_ERR);
  CHECK(UserFailures(h) == std::vector<std::string>{"2"});
  // A plain su attempt: counted at preauth, concluded without a second
  // count.
  CHECK(h.Login("alice", "192.0.2.4", "wrong").rc == PAM_AUTH_ERR);
  CHECK(UserFailures(h) == std::vector<std::string>{"3"});
}

// by_user_and_host: a success resets the user, not the host; each right
// password under a setuid caller that sets PAM_RHOST (sudo's pam_rhost)
// left its provisional count on the host, and the 4th blocked the host.
TEST_CASE(
    "setuid, by_user_and_host: right passwords leave no count on the host") {
  PamHarness h(ModulePath(), "[lockout]\nby_user_and_host = true\n", "");
  SetuidCaller caller;
  for (int i = 0; i < 5; ++i) {
    CHECK(h.Login("alice", "192.0.2.9", "right").rc == PAM_SUCCESS);
  }
  CHECK(h.Query("SELECT kind || ' ' || failures FROM subjects") ==
        std::vector<std::string>{});
  // A wrong one counts once on each subject (the pair too: alice's host
  // is remembered now).
  CHECK(h.Login("alice", "192.0.2.9", "wrong").rc == PAM_AUTH_ERR);
  CHECK(h.Query("SELECT kind || ' ' || failures FROM subjects ORDER BY kind") ==
        std::vector<std::string>{"host 1", "pair 1", "user 1"});
}

}  // namespace
}  // namespace defender::testing
