// Issue 10 finding 2 (doc/DESIGN.md §3.15): once a subject is blocked,
// every attempt that concludes gives the client the same answer, whatever
// the password. An attacker holds logins open at the password prompt (past
// preauth), blocks the account with some of them, then answers the others:
// before the fix the correct password alone got "Account locked" (from
// authsucc) while wrong ones got a bare failure, an oracle for the password.
#include <doctest/doctest.h>
#include <security/pam_appl.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/pam/pam_harness.h"
#include "tests/support/held_login.h"
#include "tests/unit/printers.h"

namespace defender::testing {
namespace {

constexpr char kLocked[] =
    "Account locked: too many login attempts. Try again in 5 minute(s).";

std::vector<std::unique_ptr<HeldLogin>> Hold(const PamHarness& h, int n,
                                             const std::string& user,
                                             const std::string& rhost) {
  std::vector<std::unique_ptr<HeldLogin>> held;
  for (int i = 0; i < n; ++i) {
    held.push_back(std::make_unique<HeldLogin>(
        [&](PamConversation* talk) { return h.Start(user, rhost, talk); }));
    REQUIRE(held.back()->at_prompt());
  }
  return held;
}

std::vector<std::string> Results(const PamHarness& h) {
  return h.Query("SELECT result FROM attempts ORDER BY id");
}

}  // namespace

TEST_CASE(
    "held logins: after the block, right and wrong passwords look the "
    "same") {
  PamHarness h(DEFENDER_TEST_MODULE_PATH, "", "");
  auto held = Hold(h, 8, "alice", "192.0.2.1");
  const HeldLogin::Result locked{PAM_AUTH_ERR, {kLocked}};
  // Limit 3: three plain failures, the 4th blocks and says so.
  for (int i = 0; i < 3; ++i) {
    CHECK(held[i]->Answer("wrong") == HeldLogin::Result{PAM_AUTH_ERR, {}});
  }
  CHECK(held[3]->Answer("wrong") == locked);
  // The rest, wrong or right, conclude exactly alike.
  CHECK(held[4]->Answer("wrong") == locked);
  CHECK(held[5]->Answer("right") == locked);
  CHECK(held[6]->Answer("wrong") == locked);
  CHECK(held[7]->Answer("right") == locked);
  // Refused attempts are not counted, and logged as refused.
  CHECK(h.Query("SELECT kind || ' ' || failures || ' ' || blocked FROM "
                "subjects ORDER BY kind = 'host'") ==
        std::vector<std::string>{"user 4 1", "host 4 1"});
  CHECK(Results(h) == std::vector<std::string>{"failure", "failure", "failure",
                                               "failure", "refused", "refused",
                                               "refused", "refused"});
}

TEST_CASE(
    "held logins: a block made elsewhere refuses a held login whatever "
    "its password") {
  PamHarness h(DEFENDER_TEST_MODULE_PATH, "", "");
  auto held = Hold(h, 2, "alice", "198.51.100.7");
  for (int i = 0; i < 4; ++i) {
    CHECK(h.Login("alice", "192.0.2.1", "wrong").rc == PAM_AUTH_ERR);
  }
  const HeldLogin::Result locked{PAM_AUTH_ERR, {kLocked}};
  CHECK(held[0]->Answer("right") == locked);
  CHECK(held[1]->Answer("wrong") == locked);
}

TEST_CASE("held logins: silent gives no text to right or wrong answers") {
  PamHarness h(DEFENDER_TEST_MODULE_PATH, "", "silent");
  auto held = Hold(h, 6, "alice", "192.0.2.1");
  for (int i = 0; i < 4; ++i)
    CHECK(held[i]->Answer("wrong").rc == PAM_AUTH_ERR);
  const HeldLogin::Result bare{PAM_AUTH_ERR, {}};
  CHECK(held[4]->Answer("right") == bare);
  CHECK(held[5]->Answer("wrong") == bare);
}

TEST_CASE(
    "by_user_and_host: a held login is refused only when both are "
    "blocked") {
  PamHarness h(DEFENDER_TEST_MODULE_PATH,
               "[lockout]\nby_user_and_host = true\n", "");
  auto held = Hold(h, 2, "alice", "192.0.2.9");
  // alice is blocked from another host; 192.0.2.9 is not: not refused.
  for (int i = 0; i < 4; ++i) h.Login("alice", "192.0.2.1", "wrong");
  CHECK(held[0]->Answer("wrong") == HeldLogin::Result{PAM_AUTH_ERR, {}});
  CHECK(held[1]->Answer("right") == HeldLogin::Result{PAM_SUCCESS, {}});
}

}  // namespace defender::testing
