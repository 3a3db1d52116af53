// defenderctl attempts: the attempt log written by the module, filtered,
// newest first, text and JSON.
#include <doctest/doctest.h>

#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

// alice fails twice from 10.0.0.1 (written as IPv4-mapped IPv6), succeeds
// once from there, and bob fails once locally; one minute apart.
void FillLog(Sandbox& box) {
  box.AddUser("alice", "secret");
  box.AddUser("bob", "pw");
  CHECK(box.Login("alice", "wrong", "::ffff:10.0.0.1", "pts/1") != 0);
  box.SetNow(kT0 + 60);
  CHECK(box.Login("alice", "wrong", "::ffff:10.0.0.1", "pts/1") != 0);
  box.SetNow(kT0 + 120);
  CHECK(box.Login("alice", "secret", "10.0.0.1", "pts/2") == 0);
  box.SetNow(kT0 + 180);
  CHECK(box.Login("bob", "wrong", "", "tty1") != 0);
}

TEST_CASE("attempts: empty log says so") {
  Sandbox box;
  RunResult r = box.Ctl({"attempts"});
  CHECK(r.status == 0);
  CHECK(r.out == "no attempts\n");
  r = box.Ctl({"attempts", "--user", "alice"});
  CHECK(r.out == "no matching attempts\n");
  CHECK(ParseJson(box.Ctl({"--json", "attempts"}).out) == Json::array());
}

// doc/DESIGN.md §3.10: the module appends to the journal; defenderctl
// moves the journal into the archive before it answers, once.
TEST_CASE("attempts: a login's journal record is moved into the archive") {
  Sandbox box;
  box.AddUser("alice", "secret");
  const std::string journal = box.dir() + "/state/attempts.journal";
  CHECK(box.Login("alice", "wrong", "10.0.0.9", "pts/4") != 0);
  REQUIRE(Exists(journal));
  CHECK(ReadFile(journal).size() > 0);
  CHECK_FALSE(Exists(box.dir() + "/state/attempts.db"));
  RunResult r = box.Ctl({"attempts"});
  CHECK(r.status == 0);
  CHECK(r.err == "");
  CHECK(
      r.out ==
      "TIME                 SERVICE        USER   HOST      TTY    RESULT\n"
      "2027-01-15 08:00:00  defender-test  alice  10.0.0.9  pts/4  failure\n");
  CHECK_FALSE(Exists(journal));
  CHECK(Exists(box.dir() + "/state/attempts.db"));
  // A second command finds the row in the archive, not twice.
  CHECK(ParseJson(box.Ctl({"--json", "attempts"}).out).size() == 1);
  CHECK(ParseJson(box.Ctl({"--json", "stats"}).out)["attempts"]["failure"] ==
        1);
  // A torn record at the end of the journal is skipped with a warning.
  CHECK(box.Login("alice", "secret", "10.0.0.9", "pts/4") == 0);
  const std::string whole = ReadFile(journal);
  WriteFile(journal, whole + whole.substr(0, 7), 0600);
  r = box.Ctl({"--json", "attempts"});
  CHECK(r.status == 0);
  CHECK(r.err ==
        "defenderctl: warning: skipped 7 damaged byte(s) of the attempt "
        "journal\n");
  const Json j = ParseJson(r.out);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["result"] == "success");
}

TEST_CASE("attempts: text table, newest first, local time") {
  Sandbox box;
  FillLog(box);
  const RunResult r = box.Ctl({"attempts"});
  CHECK(r.status == 0);
  CHECK(
      r.out ==
      "TIME                 SERVICE        USER   HOST      TTY    RESULT\n"
      "2027-01-15 08:03:00  defender-test  bob    -         tty1   failure\n"
      "2027-01-15 08:02:00  defender-test  alice  10.0.0.1  pts/2  success\n"
      "2027-01-15 08:01:00  defender-test  alice  10.0.0.1  pts/1  failure\n"
      "2027-01-15 08:00:00  defender-test  alice  10.0.0.1  pts/1  failure\n");
}

TEST_CASE("attempts --json: every field") {
  Sandbox box;
  FillLog(box);
  const Json j = ParseJson(box.Ctl({"attempts", "--json"}).out);
  REQUIRE(j.size() == 4);
  CHECK(j[0]["time"] == "2027-01-15T08:03:00Z");
  CHECK(j[0]["service"] == "defender-test");
  CHECK(j[0]["user"] == "bob");
  CHECK(j[0]["host"].is_null());
  CHECK(j[0]["tty"] == "tty1");
  CHECK(j[0]["result"] == "failure");
  CHECK(j[1]["time"] == "2027-01-15T08:02:00Z");
  CHECK(j[1]["user"] == "alice");
  CHECK(j[1]["host"] == "10.0.0.1");
  CHECK(j[1]["tty"] == "pts/2");
  CHECK(j[1]["result"] == "success");
  CHECK(j[3]["time"] == "2027-01-15T08:00:00Z");
  CHECK(j[3]["result"] == "failure");
  CHECK(j[3].size() == 6);
}

TEST_CASE("attempts: filters by user, normalised host, result, since, limit") {
  Sandbox box;
  FillLog(box);
  const auto count = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    const RunResult r = box.Ctl(args);
    REQUIRE(r.status == 0);
    return ParseJson(r.out).size();
  };
  CHECK(count({"attempts", "--user", "alice"}) == 3);
  CHECK(count({"attempts", "--user", "  bob "}) == 1);  // Trimmed as PAM_USER.
  CHECK(count({"attempts", "--host", "::ffff:10.0.0.1"}) == 3);
  CHECK(count({"attempts", "--host", "10.0.0.1", "--result", "success"}) == 1);
  CHECK(count({"attempts", "--result", "failure"}) == 3);
  CHECK(count({"attempts", "--result", "refused"}) == 0);
  // now = kT0 + 180: the last 2 minutes hold the rows at +60, +120, +180.
  CHECK(count({"attempts", "--since", "2m"}) == 3);
  CHECK(count({"attempts", "--since", "59"}) == 1);
  const Json two =
      ParseJson(box.Ctl({"--json", "attempts", "--limit", "2"}).out);
  REQUIRE(two.size() == 2);
  CHECK(two[0]["time"] == "2027-01-15T08:03:00Z");
  CHECK(two[1]["time"] == "2027-01-15T08:02:00Z");
  CHECK(count({"attempts", "--limit", "0"}) == 4);
  CHECK(count({"attempts", "--limit", "9223372036854775807"}) == 4);
}

TEST_CASE("attempts: refused attempts are logged as refused") {
  Sandbox box;
  box.AddUser("carol", "pw");
  for (int i = 0; i < 4; ++i) CHECK(box.Login("carol", "x", "192.0.2.1") != 0);
  CHECK(box.Login("carol", "pw", "192.0.2.1") != 0);
  const Json j =
      ParseJson(box.Ctl({"--json", "attempts", "--result", "refused"}).out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["user"] == "carol");
  CHECK(j[0]["host"] == "192.0.2.1");
}

// A security review: a user name of spaces and text made a cell that read
// as more cells (a whole forged row once the terminal wraps), and one with
// U+034F or U+FE0F read exactly "alice". In the table every space of a
// user, host or tty is %20 and those characters are %XX; JSON keeps the
// names as stored.
TEST_CASE("attempts: spaces and invisible characters in names are escaped") {
  Sandbox box;
  CHECK(box.Login("x  alice  10.0.0.1  pts/1  success", "wrong", "evil host",
                  "pts/1 x") != 0);
  box.SetNow(kT0 + 60);
  CHECK(box.Login("alice\xCD\x8F", "wrong", "10.0.0.1", "pts/1") != 0);
  box.SetNow(kT0 + 120);
  CHECK(box.Login("ali\xEF\xB8\x8F"
                  "ce",
                  "wrong", "10.0.0.1", "pts/1") != 0);
  const RunResult r = box.Ctl({"attempts"});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "TIME                 SERVICE        USER                             "
        "                   HOST         TTY        RESULT\n"
        "2027-01-15 08:02:00  defender-test  ali%EF%B8%8Fce                   "
        "                   10.0.0.1     pts/1      failure\n"
        "2027-01-15 08:01:00  defender-test  alice%CD%8F                      "
        "                   10.0.0.1     pts/1      failure\n"
        "2027-01-15 08:00:00  defender-test  "
        "x%20%20alice%20%2010.0.0.1%20%20pts/1%20%20success  evil%20host  "
        "pts/1%20x  failure\n");
  const Json j = ParseJson(box.Ctl({"--json", "attempts"}).out);
  REQUIRE(j.size() == 3);
  CHECK(j[0]["user"] == "ali%EF%B8%8Fce");
  CHECK(j[1]["user"] == "alice%CD%8F");
  CHECK(j[2]["user"] == "x  alice  10.0.0.1  pts/1  success");
  CHECK(j[2]["host"] == "evil host");
  CHECK(j[2]["tty"] == "pts/1 x");
}

TEST_CASE("attempts: bad arguments are usage errors") {
  Sandbox box;
  RunResult r = box.Ctl({"attempts", "--result", "maybe"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
  CHECK(r.err.find("--result") != std::string::npos);
  r = box.Ctl({"attempts", "--since", "yesterday"});
  CHECK(r.status == 2);
  CHECK(r.err ==
        "defenderctl: --since: invalid duration \"yesterday\" (use 90s, 15m, "
        "2h, 1d or seconds)\n");
  // Not a whole number from 0 to 2^63 - 1: a usage error, never a limit
  // made of it.
  for (const char* bad : {"-1", "many", "9223372036854775808",
                          "18446744073709551617", "5x", "", " 5"}) {
    CAPTURE(bad);
    r = box.Ctl({"attempts", "--limit", bad});
    CHECK(r.status == 2);
    CHECK(r.err == std::string("defenderctl: --limit: must be a whole number, "
                               "0 (all) or more, not \"") +
                       bad + "\"\n");
  }
}

}  // namespace
}  // namespace defender::testing
