// defenderctl block and unblock: the module sees what the CLI did, host
// arguments name the subjects the module stored.
#include <doctest/doctest.h>
#include <unistd.h>

#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

void BlockThroughModule(Sandbox& box, const std::string& user,
                        const std::string& rhost) {
  box.AddUser(user, "secret");
  for (int i = 0; i < 4; ++i) CHECK(box.Login(user, "wrong", rhost) != 0);
  REQUIRE(box.Login(user, "secret", rhost) != 0);
}

TEST_CASE("unblock --host ::ffff:10.0.0.1 unblocks 10.0.0.1 for the module") {
  Sandbox box("[lockout]\ndisable_user_lockout = true\n");
  BlockThroughModule(box, "alice", "10.0.0.1");
  RunResult r = box.Ctl({"unblock", "--host", "::ffff:10.0.0.1"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked host 10.0.0.1\n");
  // The module lets the right password in again...
  CHECK(box.Login("alice", "secret", "10.0.0.1") == 0);
  // ...and the failure counter was cleared: 3 failures do not block.
  for (int i = 0; i < 3; ++i) CHECK(box.Login("alice", "x", "10.0.0.1") != 0);
  CHECK(box.Login("alice", "secret", "10.0.0.1") == 0);
}

// The hint is optional: an archive that cannot be opened leaves unblock
// silent on stderr, and the unblock done.
TEST_CASE("unblock --user with an unreadable archive: no hint, no error") {
  Sandbox box;
  BlockThroughModule(box, "alice", "198.51.100.4");
  CHECK(box.Ctl({"list", "--hosts"}).status == 0);  // Moves the journal.
  // A page of garbage where the archive was (its WAL gone too).
  for (const char* suffix : {"-wal", "-shm"}) {
    unlink((box.state_dir() + "/attempts.db" + suffix).c_str());
  }
  WriteFile(box.state_dir() + "/attempts.db", std::string(4096, 'x'), 0600);
  const RunResult r = box.Ctl({"unblock", "--user", "alice"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked user alice\n");
  INFO("stderr: ", r.err);
  CHECK(r.err.empty());
  CHECK(box.Ctl({"list", "--users"}).out == "no blocked users\n");
}

TEST_CASE("unblock --host 2001:db8:1:2::7 names the /64 the module blocked") {
  Sandbox box("[lockout]\nipv6_prefix = 64\n");
  BlockThroughModule(box, "alice", "2001:db8:1:2::99");
  CHECK(box.Ctl({"list", "--hosts"}).out.find("2001:db8:1:2::/64") !=
        std::string::npos);
  const RunResult r =
      box.Ctl({"--json", "unblock", "--host", "2001:DB8:1:2::7"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["kind"] == "host");
  CHECK(j[0]["subject"] == "2001:db8:1:2::/64");
  CHECK(j[0]["was_blocked"] == true);
  CHECK(j[0]["failures_cleared"] == 4);
  CHECK(box.Ctl({"list", "--hosts"}).out == "no blocked hosts\n");
}

TEST_CASE("unblock: user, then host; a subject not blocked is fine") {
  Sandbox box;
  BlockThroughModule(box, "alice", "198.51.100.4");
  RunResult r = box.Ctl({"unblock", "--user", "alice"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked user alice\n");
  // The host is still blocked, so the module still refuses; unblock says
  // so on stderr, from alice's last logged attempt (stdout stays as is).
  CHECK(r.err ==
        "defenderctl: warning: host 198.51.100.4 (the last login of user "
        "alice came from there) is still blocked and refuses it: run "
        "`defenderctl unblock --host 198.51.100.4`\n");
  CHECK(box.Login("alice", "secret", "198.51.100.4") != 0);
  // --user with --host names the pair alice@198.51.100.4, not the host.
  r = box.Ctl({"unblock", "--user", "alice", "--host", "198.51.100.4"});
  CHECK(r.status == 0);
  CHECK(r.out == "pair alice@198.51.100.4 was not blocked\n");
  CHECK(box.Login("alice", "secret", "198.51.100.4") != 0);
  r = box.Ctl({"unblock", "--host", "198.51.100.4"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked host 198.51.100.4\n");
  CHECK(box.Login("alice", "secret", "198.51.100.4") == 0);
  // Failures below the limit are cleared too, and said so.
  CHECK(box.Login("alice", "x", "198.51.100.4") != 0);
  r = box.Ctl({"unblock", "--user", "alice"});
  CHECK(r.status == 0);
  CHECK(r.out == "user alice was not blocked; cleared 1 failure(s)\n");
  CHECK(r.err.empty());  // Her last host is no longer blocked.
  r = box.Ctl({"--json", "unblock", "--user", "nobody-here"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  CHECK(j[0]["was_blocked"] == false);
  CHECK(j[0]["failures_cleared"] == 0);
}

// The command unblock suggests is copied into a shell: a host name the
// client chose (PAM_RHOST from a program that takes it from the client, or
// a PTR record) must not run as a command there.
TEST_CASE("unblock: the suggested command quotes a host name") {
  Sandbox box;
  BlockThroughModule(box, "mallory", "h;touch${IFS}/tmp/x 'q'");
  const RunResult r = box.Ctl({"unblock", "--user", "mallory"});
  CHECK(r.status == 0);
  CHECK(r.err ==
        "defenderctl: warning: host h;touch${ifs}%2Ftmp%2Fx%20'q' (the last "
        "login of user mallory came from there) is still blocked and refuses "
        "it: run `defenderctl unblock --shown --host "
        "'h;touch${ifs}%2Ftmp%2Fx%20'\\''q'\\'''`\n");
  // The command, as a shell reads it, unblocks that host.
  CHECK(
      box.Ctl({"unblock", "--shown", "--host", "h;touch${ifs}%2Ftmp%2Fx%20'q'"})
          .out == "unblocked host h;touch${ifs}%2Ftmp%2Fx%20'q'\n");
}

// A host name with escapes (a control character, a '%') is shown as
// stored; that text given back as typed names another host, so the
// suggested command says --shown, and does unblock it.
TEST_CASE("unblock: the suggested command for a host name with escapes") {
  Sandbox box;
  BlockThroughModule(box, "mallory", "Evil\x1b.example");
  const RunResult r = box.Ctl({"unblock", "--user", "mallory"});
  CHECK(r.status == 0);
  CHECK(r.err ==
        "defenderctl: warning: host evil%1B.example (the last login of user "
        "mallory came from there) is still blocked and refuses it: run "
        "`defenderctl unblock --shown --host evil%1B.example`\n");
  CHECK(box.Ctl({"unblock", "--typed", "--host", "evil%1B.example"}).out ==
        "host evil%251b.example was not blocked\n");
  CHECK(box.Ctl({"unblock", "--shown", "--host", "evil%1B.example"}).out ==
        "unblocked host evil%1B.example\n");
  CHECK(box.Login("mallory", "secret", "Evil\x1b.example") == 0);
}

// For unblock and check, --user with --host names the pair; block takes
// one or the other (it blocked both, which the same unblock did not undo).
TEST_CASE("block: --user with --host is a usage error") {
  Sandbox box;
  const RunResult r = box.Ctl(
      {"block", "--user", "alice", "--host", "198.51.100.4", "--permanent"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
  CHECK(r.err.find("block: --user or --host, not both\n") != std::string::npos);
  CHECK(box.Ctl({"list"}).out == "no blocked subjects\n");
}

TEST_CASE("unblock --all clears every block") {
  Sandbox box;
  BlockThroughModule(box, "alice", "192.0.2.1");
  REQUIRE(box.Ctl({"block", "--user", "bob", "--permanent"}).status == 0);
  RunResult r = box.Ctl({"unblock", "--all", "--json"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  REQUIRE(j.size() == 3);
  CHECK(j[0]["was_blocked"] == true);
  CHECK(box.Ctl({"list"}).out == "no blocked subjects\n");
  CHECK(box.Login("alice", "secret", "192.0.2.1") == 0);
  r = box.Ctl({"unblock", "--all"});
  CHECK(r.status == 0);
  CHECK(r.out == "no blocked subjects\n");
}

TEST_CASE("unblock: usage errors") {
  Sandbox box;
  RunResult r = box.Ctl({"unblock"});
  CHECK(r.status == 2);
  CHECK(r.err.find("--user, --host or --all") != std::string::npos);
  r = box.Ctl({"unblock", "--all", "--user", "x"});
  CHECK(r.status == 2);
  r = box.Ctl({"unblock", "--user", "   "});
  CHECK(r.status == 2);
  CHECK(r.err == "defenderctl: --user: empty user name\n");
}

TEST_CASE("block --for: the module refuses until it ends") {
  Sandbox box;
  box.AddUser("alice", "secret");
  RunResult r = box.Ctl({"block", "--user", "alice", "--for", "15m"});
  CHECK(r.status == 0);
  CHECK(r.out == "blocked user alice until 2027-01-15 08:15:00 (15m 0s)\n");
  CHECK(box.Login("alice", "secret", "192.0.2.7") != 0);
  box.SetNow(kT0 + 899);
  CHECK(box.Login("alice", "secret", "192.0.2.7") != 0);
  box.SetNow(kT0 + 900);
  CHECK(box.Login("alice", "secret", "192.0.2.7") == 0);
}

TEST_CASE("block: JSON, --permanent, default length, host normalisation") {
  Sandbox box("[lockout]\nlockout_cooloff_time = [120, 0]\n");
  RunResult r = box.Ctl({"--json", "block", "--host", "::FFFF:192.0.2.8"});
  CHECK(r.status == 0);
  Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["kind"] == "host");
  CHECK(j[0]["subject"] == "192.0.2.8");
  CHECK(j[0]["until"] == kT0 + 120);  // The first lockout length.
  CHECK(j[0]["remaining_seconds"] == 120);
  CHECK(j[0]["permanent"] == false);
  r = box.Ctl({"block", "--user", "eve", "--permanent"});
  CHECK(r.status == 0);
  CHECK(r.out == "blocked user eve permanently\n");
  box.SetNow(kT0 + 10 * 365 * 86400);
  j = ParseJson(box.Ctl({"--json", "list", "--users"}).out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["permanent"] == true);
  CHECK(j[0]["until"].is_null());
}

TEST_CASE("block: warns when the subject is exempt") {
  Sandbox box("[lockout]\nallow_hosts = [\"10.0.0.0/8\"]\n");
  RunResult r = box.Ctl({"block", "--user", "root", "--for", "1h"});
  CHECK(r.status == 0);
  CHECK(r.err ==
        "defenderctl: warning: user root is exempt: root is never blocked "
        "(even_deny_root = false); the block has no effect on logins\n");
  r = box.Ctl({"block", "--host", "10.1.2.3", "--for", "1h"});
  CHECK(r.err ==
        "defenderctl: warning: host 10.1.2.3 is exempt: in allow_hosts; the "
        "block has no effect on logins\n");
}

TEST_CASE("block: usage errors") {
  Sandbox box;
  RunResult r = box.Ctl({"block"});
  CHECK(r.status == 2);
  CHECK(r.err.find("--user or --host") != std::string::npos);
  r = box.Ctl({"block", "--user", "a", "--for", "1h", "--permanent"});
  CHECK(r.status == 2);
  r = box.Ctl({"block", "--user", "a", "--for", "0"});
  CHECK(r.status == 2);
  r = box.Ctl({"block", "--user", "a", "--for", "10x"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
  // Longer than ten years: refused, where the end once overflowed into a
  // block in the past that was reported, announced and counted.
  r = box.Ctl({"block", "--user", "a", "--for", "3661d"});
  CHECK(r.status == 2);
  CHECK(r.err.find("longer than ten years (use --permanent for no end)") !=
        std::string::npos);
  r = box.Ctl({"block", "--user", "a", "--for", "9223372036854775807"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
  CHECK(box.Ctl({"list"}).out == "no blocked subjects\n");
  // Ten years exactly is a block.
  r = box.Ctl({"--json", "block", "--user", "a", "--for", "3660d"});
  CHECK(r.status == 0);
  CHECK(ParseJson(r.out)[0]["until"] == kT0 + 3660LL * 86400);
}

}  // namespace
}  // namespace defender::testing
