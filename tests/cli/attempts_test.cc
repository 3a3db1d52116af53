// defenderctl attempts: the attempt log written by the module, filtered,
// newest first, text and JSON.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

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

// A journal file that fails the checks (here a symlink left under a claimed
// name, and a live journal others may write) no longer fails every later
// command: it is set aside as <name>.bad with a warning that names it, the
// other files are moved in, and the command succeeds.
TEST_CASE("attempts: a journal file that fails the checks is set aside") {
  Sandbox box;
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "wrong", "10.0.0.9", "pts/4") != 0);
  const std::string state = box.state_dir();
  // A login's journal, claimed by an ingest that stopped there.
  const std::string good = "attempts.journal.0000000000000002-00000000";
  REQUIRE(rename((state + "/attempts.journal").c_str(),
                 (state + "/" + good).c_str()) == 0);
  const std::string link = "attempts.journal.0000000000000001-00000000";
  const std::string target = box.WriteFile("elsewhere", "not a journal");
  REQUIRE(symlink(target.c_str(), (state + "/" + link).c_str()) == 0);
  // A live journal others may write (a restored backup), holding a copy
  // of the login's record.
  const std::string live = state + "/attempts.journal";
  WriteFile(live, ReadFile(state + "/" + good), 0606);
  RunResult r = box.Ctl({"attempts"});
  CHECK(r.status == 0);
  CHECK(
      r.out ==
      "TIME                 SERVICE        USER   HOST      TTY    RESULT\n"
      "2027-01-15 08:00:00  defender-test  alice  10.0.0.9  pts/4  failure\n");
  // The live journal was claimed under a name of its own first.
  std::string claimed;
  for (const auto& e : std::filesystem::directory_iterator(state)) {
    const std::string name = e.path().filename();
    if (name.starts_with("attempts.journal.") && name != link + ".bad") {
      CHECK(claimed == "");
      claimed = name.substr(0, name.size() - 4);
      CHECK(name == claimed + ".bad");
    }
  }
  CHECK(claimed.size() == std::string("attempts.journal.").size() + 25);
  const std::string uid = std::to_string(geteuid());
  const std::string todo =
      ", not moved into the archive: remove it, or, to have its attempts "
      "moved in, make it a regular file that passes the check and rename it "
      "back to ";
  CHECK(r.err ==
        "defenderctl: warning: " + state + "/" + link +
            ": untrusted store: not a regular file; set aside as " + state +
            "/" + link + ".bad" + todo + state + "/" + link +
            "\n"
            "defenderctl: warning: " +
            state + "/" + claimed + ": untrusted store: owned by uid " + uid +
            " with mode 0606 (must be owned by uid " + uid +
            " and not writable by group or others); set aside as " + state +
            "/" + claimed + ".bad" + todo + state + "/" + claimed + "\n");
  CHECK(ReadFile(target) == "not a journal");
  CHECK_FALSE(Exists(live));
  CHECK_FALSE(Exists(state + "/" + good));
  // Once: later commands neither warn nor fail.
  r = box.Ctl({"stats"});
  CHECK(r.status == 0);
  CHECK(r.err == "");
  // Put right and named back as the warning says, its attempt is moved in.
  REQUIRE(chmod((state + "/" + claimed + ".bad").c_str(), 0600) == 0);
  REQUIRE(rename((state + "/" + claimed + ".bad").c_str(),
                 (state + "/" + claimed).c_str()) == 0);
  r = box.Ctl({"--json", "attempts"});
  CHECK(r.status == 0);
  CHECK(r.err == "");
  CHECK(ParseJson(r.out).size() == 2);
  CHECK_FALSE(Exists(state + "/" + claimed));
}

// A journal file held by a login stopped inside its append is left for a
// later command, with a warning; one another defenderctl holds while it
// moves it in is not held by a stopped login, and is not reported.
TEST_CASE("attempts: the warning for journal files still locked") {
  Sandbox box;
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "wrong", "10.0.0.9", "pts/4") != 0);
  const std::string held =
      box.state_dir() + "/attempts.journal.0000000000000001-00000000";
  REQUIRE(rename((box.state_dir() + "/attempts.journal").c_str(),
                 held.c_str()) == 0);
  const int fd = open(held.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  REQUIRE(flock(fd, LOCK_EX) == 0);  // Another ingest's.
  RunResult r = box.Ctl({"attempts"});
  CHECK(r.status == 0);
  CHECK(r.out == "no attempts\n");
  CHECK(r.err == "");
  REQUIRE(flock(fd, LOCK_SH) == 0);  // A stopped append's.
  r = box.Ctl({"attempts"});
  CHECK(r.status == 0);
  CHECK(r.out == "no attempts\n");
  CHECK(r.err ==
        "defenderctl: warning: 1 attempt journal file(s) still locked by a "
        "login stopped in its append: their attempts are moved by a later "
        "command\n");
  REQUIRE(close(fd) == 0);
  r = box.Ctl({"--json", "attempts"});
  CHECK(r.err == "");
  CHECK(ParseJson(r.out).size() == 1);
  CHECK_FALSE(Exists(held));
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
