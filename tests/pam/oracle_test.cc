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
  return h.QueryAttempts("SELECT result FROM attempts ORDER BY id");
}

}  // namespace

TEST_CASE(
    "held logins: after the block, right and wrong passwords look the "
    "same") {
  PamHarness h(ModulePath(), "", "");
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
  PamHarness h(ModulePath(), "", "");
  auto held = Hold(h, 2, "alice", "198.51.100.7");
  for (int i = 0; i < 4; ++i) {
    CHECK(h.Login("alice", "192.0.2.1", "wrong").rc == PAM_AUTH_ERR);
  }
  const HeldLogin::Result locked{PAM_AUTH_ERR, {kLocked}};
  CHECK(held[0]->Answer("right") == locked);
  CHECK(held[1]->Answer("wrong") == locked);
}

TEST_CASE("held logins: silent gives no text to right or wrong answers") {
  PamHarness h(ModulePath(), "", "silent");
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
  PamHarness h(ModulePath(), "[lockout]\nby_user_and_host = true\n", "");
  auto held = Hold(h, 2, "alice", "192.0.2.9");
  // alice is blocked from another host; 192.0.2.9 is not: not refused.
  for (int i = 0; i < 4; ++i) h.Login("alice", "192.0.2.1", "wrong");
  CHECK(held[0]->Answer("wrong") == HeldLogin::Result{PAM_AUTH_ERR, {}});
  CHECK(held[1]->Answer("right") == HeldLogin::Result{PAM_SUCCESS, {}});
}

// Issue 10 review: a held attempt refused by one subject's block was still
// counted on the attempt's other subject, so that subject's state (a later
// login from the same host, or the minutes in the lockout message) told a
// wrong answer from a right one.
namespace {

constexpr char kAlice[] = "alice";
constexpr char kH1[] = "192.0.2.1";     // the attacker's first address
constexpr char kH2[] = "198.51.100.7";  // the attacker's second address

struct Observed {
  HeldLogin::Result answer;  // what the held attempt concluded with
  int probe = -1;            // a later login from kH2 as another user (bob)
};

// alice is blocked from kH1 while kH2 sits at its limit; then a login held
// open from kH2 before the block is answered with `password`.
Observed GuessAfterBlock(const std::string& password, bool advance_clock) {
  PamHarness h(ModulePath(), "", "");
  h.SetNow(1'000'000);
  auto held = std::make_unique<HeldLogin>(
      [&](PamConversation* talk) { return h.Start(kAlice, kH2, talk); });
  REQUIRE(held->at_prompt());
  // kH2 at its limit (3 failures, not blocked), with a user of its own.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(h.Login("carol", kH2, "wrong").rc == PAM_AUTH_ERR);
  }
  // alice blocked from kH1 (limit 3: the 4th failure blocks).
  for (int i = 0; i < 4; ++i) h.Login(kAlice, kH1, "wrong");
  REQUIRE(h.Login(kAlice, kH1, "right").rc == PAM_AUTH_ERR);
  if (advance_clock) h.Advance(70);  // alice's block: 230 s left
  Observed o;
  o.answer = held->Answer(password);
  held.reset();
  o.probe = h.Login("bob", kH2, "right").rc;
  return o;
}

// GuessAfterBlock with the right password and with a wrong one.
struct Guesses {
  Observed right, wrong;
};
Guesses RightAndWrongAfterBlock(bool advance_clock) {
  return {GuessAfterBlock("right", advance_clock),
          GuessAfterBlock("wrong", advance_clock)};
}

}  // namespace

// doc/DESIGN.md §3.1: refused attempts are not counted; §3.15: every attempt
// that concludes after a block gives the same result and text.
TEST_CASE(
    "a held wrong answer after the block counts on no subject: the host's "
    "state does not tell the guess") {
  const auto [right, wrong] = RightAndWrongAfterBlock(false);
  CHECK(right.answer == wrong.answer);
  // A later login from kH2 as another user shows whether the guess was
  // right (kH2 not blocked) or wrong (kH2 blocked by a refused attempt).
  CHECK(right.probe == wrong.probe);
}

TEST_CASE(
    "a held wrong answer after the block leaves the message's minutes "
    "alone") {
  const auto [right, wrong] = RightAndWrongAfterBlock(true);
  CHECK(right.answer == wrong.answer);
}

// The same with the roles swapped: kH2 is blocked, alice is not; a wrong
// answer on a login held from kH2 still counts on alice.
TEST_CASE(
    "a held wrong answer after the host's block does not count on the user") {
  const auto run = [](const std::string& password) {
    PamHarness h(ModulePath(), "", "");
    auto held = std::make_unique<HeldLogin>(
        [&](PamConversation* talk) { return h.Start(kAlice, kH2, talk); });
    REQUIRE(held->at_prompt());
    for (int i = 0; i < 3; ++i) h.Login(kAlice, kH1, "wrong");   // alice: 3
    for (int i = 0; i < 4; ++i) h.Login("carol", kH2, "wrong");  // kH2 blocked
    held->Answer(password);
    held.reset();
    // alice from a third address: refused only if the held answer counted.
    return h.Login(kAlice, "203.0.113.5", "right").rc;
  };
  CHECK(run("right") == run("wrong"));
}

// doc/DESIGN.md §3.7: an attempt from an allow-listed host is never refused by
// any block (user, host or pair).
TEST_CASE("allow_hosts: a blocked user still logs in from there") {
  PamHarness h(ModulePath(), "[lockout]\nallow_hosts = [\"10.0.0.0/8\"]\n", "");
  for (int i = 0; i < 4; ++i) h.Login(kAlice, kH1, "wrong");
  CHECK(h.Login(kAlice, "192.0.2.2", "right").rc == PAM_AUTH_ERR);
  // Password login (auth and the enforce account step) and key login (the
  // enforce account step alone) from the allow-listed host.
  CHECK(h.Login(kAlice, "10.1.2.3", "right").rc == PAM_SUCCESS);
  CHECK(h.Account(kAlice, "10.1.2.3").rc == PAM_SUCCESS);
  // That success reset nothing: alice is still refused elsewhere.
  CHECK(h.Login(kAlice, "192.0.2.2", "right").rc == PAM_AUTH_ERR);
}

TEST_CASE("allow_hosts: failures from there are never counted") {
  PamHarness h(ModulePath(), "[lockout]\nallow_hosts = [\"10.0.0.0/8\"]\n", "");
  for (int i = 0; i < 5; ++i) {
    CHECK(h.Login(kAlice, "10.1.2.3", "wrong").rc == PAM_AUTH_ERR);
  }
  // Three failures elsewhere are within the limit only if none of the five
  // above counted on alice.
  for (int i = 0; i < 3; ++i) h.Login(kAlice, kH1, "wrong");
  CHECK(h.Login(kAlice, "192.0.2.2", "right").rc == PAM_SUCCESS);
}

}  // namespace defender::testing
