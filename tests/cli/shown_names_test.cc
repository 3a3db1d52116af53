// --user as defenderctl shows it (defenderctl(8), "User names as shown").
//
// A stored user name holds "%XX" for each byte of a control or invisible
// character, of invalid UTF-8 and of '%' (evil%1B[31m, 50%25off), and
// tables write blanks so too. Read as typed at login, that text names
// another user (its '%' escaped again): unblock said "was not blocked"
// with exit 0 and check "allowed" of a blocked user. These cases are the
// attacks on the fix: a decoy user made from the shown text, escapes
// defenderctl never writes, a name cut after a blank.
#include <doctest/doctest.h>

#include <string>

#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

// Fails `user` four times from `rhost`: blocked (failure_limit 3).
void FailFourTimes(Sandbox& box, const std::string& user,
                   const std::string& rhost) {
  for (int i = 0; i < 4; ++i) CHECK(box.Login(user, "wrong", rhost) != 0);
}

TEST_CASE("unblock, check and attempts take a user name as shown") {
  Sandbox box("[lockout]\ndisable_host_lockout = true\n");
  FailFourTimes(box, "evil\x1B[31m", "198.51.100.4");
  const Json listed = ParseJson(box.Ctl({"--json", "list", "--users"}).out);
  REQUIRE(listed.size() == 1);
  const std::string shown = listed[0]["subject"];
  CHECK(shown == "evil%1B[31m");

  RunResult r = box.Ctl({"check", "--user", shown});
  CHECK(r.status == 1);
  CHECK(r.out.find("refused") == 0);
  r = box.Ctl({"--json", "attempts", "--user", shown});
  CHECK(r.status == 0);
  const Json attempts = ParseJson(r.out);
  REQUIRE(attempts.size() == 4);
  CHECK(attempts[0]["user"] == "evil%1B[31m");

  r = box.Ctl({"unblock", "--user", shown});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked user evil%1B[31m\n");
  CHECK(box.Ctl({"list", "--users"}).out == "no blocked users\n");
  CHECK(box.Ctl({"check", "--user", shown}).status == 0);
  // The raw bytes still name the user as typed at login.
  FailFourTimes(box, "evil\x1B[31m", "198.51.100.4");
  r = box.Ctl({"unblock", "--user", "evil\x1B[31m"});
  CHECK(r.out == "unblocked user evil%1B[31m\n");
}

// A table cell writes a blank as %20: that text names the user too.
TEST_CASE("a name copied from a table cell, blanks as %20, is understood") {
  Sandbox box("[lockout]\ndisable_host_lockout = true\n");
  FailFourTimes(box, "x\x07 y", "198.51.100.4");
  const std::string table = box.Ctl({"list", "--users"}).out;
  CHECK(table.find(" x%07%20y ") != std::string::npos);
  RunResult r = box.Ctl({"check", "--user", "x%07%20y"});
  CHECK(r.status == 1);
  r = box.Ctl({"--json", "unblock", "--user", "x%07%20y"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["subject"] == "x%07 y");
  CHECK(j[0]["was_blocked"] == true);
}

// An attacker fails once under the shown text itself ("evil%1B[31m" typed
// literally, stored as evil%251B[31m): the administrator's copied name
// must not go to that decoy, and check must not call the blocked user
// allowed. Both readings have records: exit 2, naming both, until
// --typed or --shown says which.
TEST_CASE("a decoy made from the shown text makes the name ambiguous") {
  Sandbox box("[lockout]\ndisable_host_lockout = true\n");
  FailFourTimes(box, "evil\x1B[31m", "198.51.100.4");
  CHECK(box.Login("evil%1B[31m", "wrong", "198.51.100.4") != 0);
  const std::string error =
      "defenderctl: --user 'evil%1B[31m' names two users with records: user "
      "evil%251B[31m as typed at login, and user evil%1B[31m as defenderctl "
      "shows it; add --typed or --shown\n";
  for (const char* verb : {"unblock", "check", "attempts", "block"}) {
    INFO(verb);
    const RunResult r = box.Ctl({verb, "--user", "evil%1B[31m"});
    CHECK(r.status == 2);
    CHECK(r.out == "");
    CHECK(r.err == error);
  }
  CHECK(box.Ctl({"list", "--users"}).out.find("evil%1B[31m") !=
        std::string::npos);

  RunResult r = box.Ctl({"check", "--shown", "--user", "evil%1B[31m"});
  CHECK(r.status == 1);
  r = box.Ctl({"--json", "check", "--typed", "--user", "evil%1B[31m"});
  CHECK(r.status == 0);
  CHECK(ParseJson(r.out)["user"] == "evil%251B[31m");
  r = box.Ctl({"unblock", "--typed", "--user", "evil%1B[31m"});
  CHECK(r.status == 0);
  CHECK(r.out == "user evil%251B[31m was not blocked; cleared 1 failure(s)\n");
  r = box.Ctl({"unblock", "--shown", "--user", "evil%1B[31m"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked user evil%1B[31m\n");
  CHECK(box.Ctl({"list", "--users"}).out == "no blocked users\n");
}

// Only the escapes defenderctl writes are read: "al%69ce" is not how
// alice is shown, nor " %20alice%0A" (the module trims blanks and
// controls around a name). Either one names only itself, as typed.
TEST_CASE("escapes defenderctl never writes name no other user") {
  Sandbox box;
  CHECK(box.Ctl({"block", "--user", "alice"}).status == 0);
  for (const char* arg : {"al%69ce", " %20alice%0A", "%61lice", "alice%0A"}) {
    INFO(arg);
    const RunResult r = box.Ctl({"--json", "unblock", "--user", arg});
    CHECK(r.status == 0);
    const Json j = ParseJson(r.out);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["was_blocked"] == false);
    CHECK(j[0]["subject"] != "alice");
    CHECK(box.Ctl({"check", "--user", arg}).status == 0);
  }
  CHECK(box.Ctl({"check", "--user", "alice"}).status == 1);
  const RunResult r = box.Ctl({"unblock", "--shown", "--user", "al%69ce"});
  CHECK(r.status == 2);
  CHECK(r.err ==
        "defenderctl: --user al%69ce is not a user name as defenderctl shows "
        "it (--shown)\n");
  // A malformed or lower-case escape is no shown name either.
  for (const char* arg : {"a%1b", "a%G0", "a%2"}) {
    INFO(arg);
    CHECK(box.Ctl({"check", "--shown", "--user", arg}).status == 2);
  }
}

// Under fold_username_case the module stores "alice" for "ALICE": the
// shown form holds no capital, and --shown refuses one.
TEST_CASE("under fold_username_case a shown name has no capitals") {
  Sandbox box("[lockout]\nfold_username_case = true\n");
  CHECK(box.Ctl({"block", "--user", "ALICE"}).status == 0);
  CHECK(box.Ctl({"check", "--user", "Alice"}).status == 1);
  CHECK(box.Ctl({"check", "--shown", "--user", "alice"}).status == 1);
  CHECK(box.Ctl({"check", "--shown", "--user", "Alice"}).status == 2);
}

// A name longer than the 256 bytes kept is cut, and a cut just after a
// blank leaves a subject that ends in one (shown as %20 in tables, as a
// blank in JSON). Both texts reach it; as typed, a trailing blank is
// trimmed and names another subject.
TEST_CASE("a name cut just after a blank is reached as shown") {
  Sandbox box;
  const std::string stem(255, 'a');
  CHECK(box.Ctl({"block", "--user", stem + " and more"}).status == 0);
  const Json listed = ParseJson(box.Ctl({"--json", "list", "--users"}).out);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["subject"] == stem + " ");
  CHECK(box.Ctl({"list", "--users"}).out.find(stem + "%20 ") !=
        std::string::npos);
  CHECK(box.Ctl({"check", "--user", stem + "%20"}).status == 1);
  CHECK(box.Ctl({"check", "--user", stem + " "}).status == 1);
  CHECK(box.Ctl({"check", "--typed", "--user", stem + " "}).status == 0);
  const RunResult r = box.Ctl({"--json", "unblock", "--user", stem + "%20"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["subject"] == stem + " ");
  CHECK(j[0]["was_blocked"] == true);
}

// The pair U@H of unblock --user --host, and forget's remembered hosts,
// follow the same reading.
TEST_CASE("unblock of a pair and forget take the user as shown") {
  Sandbox box;
  box.AddUser("a%b", "secret");
  CHECK(box.Login("a%b", "secret", "192.0.2.100") == 0);
  RunResult r = box.Ctl({"list", "--remembered"});
  CHECK(r.out.find("a%25b") != std::string::npos);
  // Failures from the remembered host block the pair.
  FailFourTimes(box, "a%b", "192.0.2.100");
  r = box.Ctl(
      {"--json", "unblock", "--user", "a%25b", "--host", "192.0.2.100"});
  CHECK(r.status == 0);
  Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["kind"] == "pair");
  CHECK(j[0]["subject"] == "a%25b@192.0.2.100");
  CHECK(j[0]["was_blocked"] == true);

  r = box.Ctl({"forget", "--typed", "--user", "a%25b"});
  CHECK(r.out == "forgot 0 remembered host(s) of user a%2525b\n");
  r = box.Ctl({"forget", "--user", "a%25b"});
  CHECK(r.status == 0);
  CHECK(r.out == "forgot 1 remembered host(s) of user a%25b\n");
}

TEST_CASE("--typed and --shown: usage") {
  Sandbox box;
  RunResult r = box.Ctl({"unblock", "--typed", "--all"});
  CHECK(r.status == 2);
  r = box.Ctl({"attempts", "--shown"});
  CHECK(r.status == 2);
  CHECK(r.err.find("--user") != std::string::npos);
  r = box.Ctl({"check", "--typed", "--shown", "--user", "alice"});
  CHECK(r.status == 2);
  CHECK(r.err.find("excludes") != std::string::npos);
  // A plain name reads the same either way.
  CHECK(box.Ctl({"block", "--shown", "--user", "bob"}).status == 0);
  CHECK(box.Ctl({"unblock", "--typed", "--user", "bob"}).out ==
        "unblocked user bob\n");
}

}  // namespace
}  // namespace defender::testing
