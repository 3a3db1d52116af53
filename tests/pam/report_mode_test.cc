// lockout.mode = "report" (doc/DESIGN.md §3.16) and the host block's own
// message (§3.12), through the real libpam on the local store.
#include <doctest/doctest.h>
#include <security/pam_appl.h>

#include <string>
#include <vector>

#include "tests/pam/pam_harness.h"
#include "tests/support/process.h"

namespace defender::testing {
namespace {

constexpr char kLocked[] =
    "Account locked: too many login attempts. Try again in 5 minute(s).";
constexpr char kHostLocked[] =
    "Logins from your address are blocked: too many failed attempts. Try "
    "again later or contact an administrator.";

TEST_CASE("report mode counts and blocks as enforce does, refuses nothing") {
  PamHarness h(ModulePath(), "[lockout]\nmode = \"report\"\n");
  for (int i = 0; i < 4; ++i) {
    CHECK(h.Login("alice", "192.0.2.1", "wrong").rc == PAM_AUTH_ERR);
  }
  // Blocked in the store, yet the right password logs in with no message,
  // and a key login (the enforce account step alone) too.
  const PamResult in = h.Login("alice", "192.0.2.1", "right");
  CHECK(in.rc == PAM_SUCCESS);
  CHECK(in.info.empty());
  CHECK(h.Account("alice", "192.0.2.9").rc == PAM_SUCCESS);
  // A direct step on a blocked subject: preauth and authsucc allow.
  CHECK(h.Direct(false, {"preauth"}, "alice", "192.0.2.1").rc == PAM_SUCCESS);
  CHECK(h.Direct(false, {"authsucc"}, "alice", "192.0.2.1").rc == PAM_SUCCESS);

  // defenderctl check says what enforce would do, with enforce's exit code.
  const std::string ctl = EnvPath("DEFENDERCTL_TESTCLOCK");
  const RunResult check = Spawn({ctl, "-c", h.config_path(), "check", "--user",
                                 "alice", "--host", "192.0.2.1"});
  CHECK(check.status == 1);
  CHECK(check.out.rfind("would refuse (report mode): user alice is blocked",
                        0) == 0);

  // The successes above reset nothing: under enforce the same store refuses.
  h.WriteConfig("[lockout]\nmode = \"enforce\"\n");
  const PamResult refused = h.Login("alice", "192.0.2.1", "right");
  CHECK(refused.rc == PAM_AUTH_ERR);
  CHECK(refused.info == std::vector<std::string>{kLocked});
}

TEST_CASE("report mode as a module argument for one service") {
  PamHarness h(ModulePath(), "", "mode=report");
  for (int i = 0; i < 4; ++i) h.Login("alice", "192.0.2.1", "wrong");
  CHECK(h.Login("alice", "192.0.2.1", "right").rc == PAM_SUCCESS);
}

TEST_CASE("a host block shows host_lockout_message") {
  PamHarness h(ModulePath(), "[lockout]\ndisable_user_lockout = true\n");
  for (const char* user : {"u1", "u2", "u3", "u4"}) {
    h.Login(user, "192.0.2.8", "wrong");
  }
  CHECK(h.Login("alice", "192.0.2.8", "right").info ==
        std::vector<std::string>{kHostLocked});
  h.WriteConfig(
      "[lockout]\ndisable_user_lockout = true\n"
      "host_lockout_message = \"Too many failures from here ({failure_limit}"
      ").\"\n");
  CHECK(h.Account("alice", "192.0.2.8").info ==
        std::vector<std::string>{"Too many failures from here (3)."});
}

}  // namespace
}  // namespace defender::testing
