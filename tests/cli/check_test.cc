// defenderctl check: the module's own Policy::Check, exit 0 allowed / 1
// refused, and why.
#include <doctest/doctest.h>

#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

TEST_CASE("check: allowed, exit 0, with the state of each subject") {
  Sandbox box;
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "wrong", "10.0.0.1") != 0);
  const RunResult r =
      box.Ctl({"check", "--user", "alice", "--host", "::ffff:10.0.0.1"});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "allowed\n"
        "KIND  SUBJECT         STATE\n"
        "user  alice           1 failure(s), limit 3\n"
        "host  10.0.0.1        1 failure(s), limit 3\n"
        "pair  alice@10.0.0.1  0 failure(s), limit 3, not a remembered host: "
        "not counted\n");
}

// A security review: spaces in a name made a SUBJECT cell read as more
// cells. Every blank character (category Zs: here U+0020, U+00A0, U+3000)
// of a name is %XX in the table, and U+034F is %CD%8F.
TEST_CASE("check: blanks and invisible characters in names are escaped") {
  Sandbox box;
  const RunResult r = box.Ctl({"check", "--user",
                               "a b\xC2\xA0"
                               "c\xE3\x80\x80"
                               "d\xCD\x8F",
                               "--host", "10.0.0.1"});
  CHECK(r.status == 0);
  CHECK(r.out ==
        "allowed\n"
        "KIND  SUBJECT                                STATE\n"
        "user  a%20b%C2%A0c%E3%80%80d%CD%8F           0 failure(s), limit 3\n"
        "host  10.0.0.1                               0 failure(s), limit 3\n"
        "pair  a%20b%C2%A0c%E3%80%80d%CD%8F@10.0.0.1  0 failure(s), limit 3, "
        "not a remembered host: not counted\n");
}

TEST_CASE("check: refused by the module's block, exit 1, text and JSON") {
  Sandbox box;
  box.AddUser("alice", "secret");
  for (int i = 0; i < 4; ++i)
    CHECK(box.Login("alice", "wrong", "10.0.0.1") != 0);
  box.SetNow(kT0 + 48);
  RunResult r = box.Ctl({"check", "--user", "alice", "--host", "10.0.0.1"});
  CHECK(r.status == 1);
  CHECK(r.out ==
        "refused: user alice is blocked for 4m 12s\n"
        "KIND  SUBJECT         STATE\n"
        "user  alice           blocked until 2027-01-15 08:05:00 (4m 12s "
        "left), 4 failure(s), limit 3\n"
        "host  10.0.0.1        blocked until 2027-01-15 08:05:00 (4m 12s "
        "left), 4 failure(s), limit 3\n"
        "pair  alice@10.0.0.1  0 failure(s), limit 3, not a remembered host: "
        "not counted\n");
  // Another user from the blocked host is refused too; the check itself
  // counts nothing and logs nothing.
  r = box.Ctl({"--json", "check", "--user", "bob", "--host", "10.0.0.1"});
  CHECK(r.status == 1);
  const Json j = ParseJson(r.out);
  CHECK(j["user"] == "bob");
  CHECK(j["host"] == "10.0.0.1");
  CHECK(j["refused"] == true);
  CHECK(j["reason"] == "host 10.0.0.1 is blocked for 4m 12s");
  CHECK(j["refused_by"]["kind"] == "host");
  CHECK(j["refused_by"]["subject"] == "10.0.0.1");
  CHECK(j["permanent"] == false);
  CHECK(j["remaining_seconds"] == 252);
  REQUIRE(j["subjects"].size() == 3);  // bob, the host, bob@10.0.0.1.
  CHECK(j["subjects"][0]["subject"] == "bob");
  CHECK(j["subjects"][0]["blocked"] == false);
  CHECK(j["subjects"][0]["failures"] == 0);
  CHECK(j["subjects"][0]["limit"] == 3);
  CHECK(j["subjects"][1]["blocked"] == true);
  CHECK(j["subjects"][1]["until"] == kT0 + 300);
  CHECK(j["subjects"][2]["subject"] == "bob@10.0.0.1");
  CHECK(j["subjects"][2]["kind"] == "pair");
  CHECK(ParseJson(box.Ctl({"--json", "attempts", "--user", "bob"}).out) ==
        Json::array());
  // A local login by bob (no host) is allowed.
  CHECK(box.Ctl({"check", "--user", "bob"}).status == 0);
}

TEST_CASE("check agrees with the module on IPv6 networks") {
  Sandbox box;
  box.AddUser("alice", "secret");
  for (int i = 0; i < 4; ++i) {
    CHECK(box.Login("alice", "wrong", "2001:db8:1:2::7") != 0);
  }
  // Another address of the same /64, another user.
  const RunResult r =
      box.Ctl({"check", "--user", "zed", "--host", "2001:db8:1:2:ffff::1"});
  CHECK(r.status == 1);
  CHECK(r.out.rfind("refused: host 2001:db8:1:2::/64 is blocked for 5m 0s\n",
                    0) == 0);
  CHECK(
      box.Ctl({"check", "--user", "zed", "--host", "2001:db8:1:3::1"}).status ==
      0);
}

TEST_CASE("check: permanent blocks, deny_hosts and exempt subjects") {
  Sandbox box("[lockout]\ndeny_hosts = [\"203.0.113.0/24\"]\n");
  REQUIRE(box.Ctl({"block", "--user", "eve", "--permanent"}).status == 0);
  RunResult r = box.Ctl({"--json", "check", "--user", "eve"});
  CHECK(r.status == 1);
  Json j = ParseJson(r.out);
  CHECK(j["reason"] == "user eve is blocked permanently");
  CHECK(j["permanent"] == true);
  CHECK(j["remaining_seconds"].is_null());
  CHECK(j["host"].is_null());

  r = box.Ctl({"check", "--user", "root", "--host", "203.0.113.9"});
  CHECK(r.status == 1);
  CHECK(r.out ==
        "refused: host 203.0.113.9 is in deny_hosts\n"
        "KIND  SUBJECT      STATE\n"
        "user  root         root is never blocked (even_deny_root = false)\n"
        "host  203.0.113.9  in deny_hosts\n");
  j = ParseJson(box.Ctl({"--json", "check", "--user", "root"}).out);
  CHECK(j["refused"] == false);
  CHECK(j["reason"] == "allowed");
  REQUIRE(j["subjects"].size() == 1);
  CHECK(j["subjects"][0]["exempt"] ==
        "root is never blocked (even_deny_root = false)");
  CHECK(j["subjects"][0]["limit"].is_null());
}

TEST_CASE("check: --user is required") {
  Sandbox box;
  const RunResult r = box.Ctl({"check", "--host", "10.0.0.1"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
  CHECK(r.err.find("--user") != std::string::npos);
}

}  // namespace
}  // namespace defender::testing
