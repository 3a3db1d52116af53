// --user and --host as defenderctl shows them (defenderctl(8), "Names as
// shown").
//
// A stored user name holds "%XX" for each byte of a control or invisible
// character, of invalid UTF-8 and of '%' (evil%1B[31m, 50%25off), and
// tables write blanks so too. Read as typed at login, that text names
// another user (its '%' escaped again): unblock said "was not blocked"
// with exit 0 and check "allowed" of a blocked user. Such text now reads
// two ways, and a command says so rather than guess: an attacker chooses
// which users have records (a login under the shown text makes one), so
// no choice by records is safe. These cases are the attacks on the fix:
// decoys both ways, escapes defenderctl never writes, a name cut after a
// blank.
#include <doctest/doctest.h>

#include <string>
#include <utility>

#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

// Fails `user` four times from `rhost`: blocked (failure_limit 3).
void FailFourTimes(Sandbox& box, const std::string& user,
                   const std::string& rhost) {
  for (int i = 0; i < 4; ++i) CHECK(box.Login(user, "wrong", rhost) != 0);
}

TEST_CASE("a shown name reads two ways: nothing is guessed, --shown names it") {
  Sandbox box("[lockout]\ndisable_host_lockout = true\n");
  FailFourTimes(box, "evil\x1B[31m", "198.51.100.4");
  const Json listed = ParseJson(box.Ctl({"--json", "list", "--users"}).out);
  REQUIRE(listed.size() == 1);
  const std::string shown = listed[0]["subject"];
  CHECK(shown == "evil%1B[31m");

  const std::string error =
      "defenderctl: --user 'evil%1B[31m' reads two ways: user "
      "'evil%251B[31m' as typed at login, user 'evil%1B[31m' as defenderctl "
      "shows it; add --typed or --shown\n";
  for (const char* verb : {"unblock", "check", "attempts", "block", "forget"}) {
    INFO(verb);
    const RunResult r = box.Ctl({verb, "--user", shown});
    CHECK(r.status == 2);
    CHECK(r.out == "");
    CHECK(r.err == error);
  }

  RunResult r = box.Ctl({"check", "--shown", "--user", shown});
  CHECK(r.status == 1);
  CHECK(r.out.find("refused") == 0);
  r = box.Ctl({"--json", "attempts", "--shown", "--user", shown});
  CHECK(r.status == 0);
  const Json attempts = ParseJson(r.out);
  REQUIRE(attempts.size() == 4);
  CHECK(attempts[0]["user"] == "evil%1B[31m");
  r = box.Ctl({"unblock", "--shown", "--user", shown});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked user evil%1B[31m\n");
  CHECK(box.Ctl({"list", "--users"}).out == "no blocked users\n");

  // A user with no records at all (its block lifted): without a flag the
  // text is refused all the same (typed, it would block a user nobody
  // has), and --shown names it, so block reaches the user the module
  // refuses.
  r = box.Ctl({"block", "--user", shown});
  CHECK(r.status == 2);
  CHECK(r.err == error);
  CHECK(box.Ctl({"list", "--users"}).out == "no blocked users\n");
  r = box.Ctl({"block", "--shown", "--user", shown});
  CHECK(r.status == 0);
  CHECK(r.out.find("blocked user evil%1B[31m until") == 0);
  CHECK(box.Login("evil\x1B[31m", "wrong", "198.51.100.4") != 0);
  CHECK(box.Ctl({"check", "--user", "evil\x1B[31m"}).status == 1);
  // The raw bytes read one way only.
  r = box.Ctl({"unblock", "--user", "evil\x1B[31m"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked user evil%1B[31m\n");
}

// A table cell writes a blank as %20: that text is a shown name too.
TEST_CASE("a name copied from a table cell, blanks as %20, is understood") {
  Sandbox box("[lockout]\ndisable_host_lockout = true\n");
  FailFourTimes(box, "x\x07 y", "198.51.100.4");
  const std::string table = box.Ctl({"list", "--users"}).out;
  CHECK(table.find(" x%07%20y ") != std::string::npos);
  RunResult r = box.Ctl({"check", "--user", "x%07%20y"});
  CHECK(r.status == 2);
  CHECK(r.err ==
        "defenderctl: --user x%07%20y reads two ways: user x%2507%2520y as "
        "typed at login, user x%07%20y as defenderctl shows it; add --typed "
        "or --shown\n");
  r = box.Ctl({"check", "--shown", "--user", "x%07%20y"});
  CHECK(r.status == 1);
  r = box.Ctl({"--json", "unblock", "--shown", "--user", "x%07%20y"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["subject"] == "x%07 y");
  CHECK(j[0]["was_blocked"] == true);
}

// An attacker fails once under the shown text itself ("evil%1B[31m" typed
// literally, stored as evil%251B[31m). With --shown and --typed each
// command acts on the user it was told.
TEST_CASE("a decoy made from the shown text takes nothing from the flags") {
  Sandbox box("[lockout]\ndisable_host_lockout = true\n");
  FailFourTimes(box, "evil\x1B[31m", "198.51.100.4");
  CHECK(box.Login("evil%1B[31m", "wrong", "198.51.100.4") != 0);
  CHECK(box.Ctl({"check", "--user", "evil%1B[31m"}).status == 2);
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

// The decoy the other way: a real account is named x%25y, and an attacker
// fails once as x%y, which is stored as x%25y. The administrator's
// x%25y, meant as typed, must not go to the attacker's record.
TEST_CASE("a real name that is also another's shown text is not taken") {
  Sandbox box;
  box.AddUser("x%25y", "secret");
  CHECK(box.Login("x%y", "wrong", "203.0.113.9") != 0);
  RunResult r = box.Ctl({"block", "--user", "x%25y"});
  CHECK(r.status == 2);
  CHECK(box.Ctl({"list", "--users"}).out == "no blocked users\n");
  r = box.Ctl({"block", "--typed", "--user", "x%25y"});
  CHECK(r.status == 0);
  CHECK(r.out.find("blocked user x%2525y until") == 0);
  CHECK(box.Login("x%25y", "secret", "192.0.2.1") != 0);
}

// Only the escapes defenderctl writes are read: "al%69ce" is not how
// alice is shown, nor " %20alice%0A" (the module trims blanks and
// controls around a name). Either one reads one way, as typed.
TEST_CASE("escapes defenderctl never writes name no other user") {
  Sandbox box;
  CHECK(box.Ctl({"block", "--user", "alice"}).status == 0);
  const std::pair<const char*, const char*> as_typed[] = {
      {"al%69ce", "al%2569ce"},
      {" %20alice%0A", "%2520alice%250A"},
      {"%61lice", "%2561lice"},
      {"alice%0A", "alice%250A"}};
  for (const auto& [arg, subject] : as_typed) {
    INFO(arg);
    const RunResult r = box.Ctl({"--json", "unblock", "--user", arg});
    CHECK(r.status == 0);
    const Json j = ParseJson(r.out);
    REQUIRE(j.size() == 1);
    CHECK(j[0]["was_blocked"] == false);
    CHECK(j[0]["subject"] == subject);
    CHECK(box.Ctl({"check", "--user", arg}).status == 0);
    CHECK(box.Ctl({"check", "--shown", "--user", arg}).status == 2);
  }
  CHECK(box.Ctl({"check", "--user", "alice"}).status == 1);
  const RunResult r = box.Ctl({"unblock", "--shown", "--user", "al%69ce"});
  CHECK(r.status == 2);
  CHECK(r.err ==
        "defenderctl: --user al%69ce is not a user name as defenderctl shows "
        "it (--shown)\n");
  // A malformed or lower-case escape, or a NUL, is no shown name either.
  for (const char* arg : {"a%1b", "a%G0", "a%2", "a%00b"}) {
    INFO(arg);
    const RunResult bad = box.Ctl({"check", "--shown", "--user", arg});
    CHECK(bad.status == 2);
    CHECK(bad.err == "defenderctl: --user " + std::string(arg) +
                         " is not a user name as defenderctl shows it "
                         "(--shown)\n");
  }
}

// Under fold_username_case the module stores "alice" for "ALICE": a
// capital makes no second reading, and "Alice" is alice. A record made
// before the key was turned on keeps its capitals, and --shown reaches it.
TEST_CASE(
    "under fold_username_case a capital reads one way; --shown keeps it") {
  Sandbox box;
  CHECK(box.Ctl({"block", "--user", "Alice"}).status == 0);
  box.WriteConfig("[store]\ndir = \"" + box.state_dir() +
                  "\"\n[lockout]\nfold_username_case = true\n");
  CHECK(box.Ctl({"block", "--user", "BOB"}).status == 0);
  CHECK(box.Ctl({"check", "--user", "Bob"}).status == 1);
  CHECK(box.Ctl({"check", "--shown", "--user", "bob"}).status == 1);
  RunResult r = box.Ctl({"unblock", "--user", "Alice"});
  CHECK(r.out == "user alice was not blocked\n");
  r = box.Ctl({"unblock", "--shown", "--user", "Alice"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked user Alice\n");
  CHECK(box.Ctl({"list", "--users"}).out.find("Alice") == std::string::npos);
}

// A name longer than the 256 bytes kept is cut, and a cut just after a
// blank leaves a subject that ends in one (shown as %20 in tables, as a
// blank in JSON). Both texts reach it under --shown; as typed, the
// trailing blank is trimmed and names another subject.
TEST_CASE("a name cut just after a blank is reached as shown") {
  Sandbox box;
  const std::string stem(255, 'a');
  CHECK(box.Ctl({"block", "--user", stem + " and more"}).status == 0);
  const Json listed = ParseJson(box.Ctl({"--json", "list", "--users"}).out);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["subject"] == stem + " ");
  CHECK(box.Ctl({"list", "--users"}).out.find(stem + "%20 ") !=
        std::string::npos);
  CHECK(box.Ctl({"check", "--user", stem + "%20"}).status == 2);
  CHECK(box.Ctl({"check", "--shown", "--user", stem + "%20"}).status == 1);
  CHECK(box.Ctl({"check", "--user", stem + " "}).status == 2);
  CHECK(box.Ctl({"check", "--shown", "--user", stem + " "}).status == 1);
  CHECK(box.Ctl({"check", "--typed", "--user", stem + " "}).status == 0);
  const RunResult r =
      box.Ctl({"--json", "unblock", "--shown", "--user", stem + "%20"});
  CHECK(r.status == 0);
  const Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["subject"] == stem + " ");
  CHECK(j[0]["was_blocked"] == true);
}

// The pair U@H of unblock --user --host, and forget's remembered hosts,
// take the user as the flags say.
TEST_CASE("unblock of a pair and forget take the user as shown") {
  Sandbox box;
  box.AddUser("a%b", "secret");
  CHECK(box.Login("a%b", "secret", "192.0.2.100") == 0);
  RunResult r = box.Ctl({"list", "--remembered"});
  CHECK(r.out.find("a%25b") != std::string::npos);
  // Failures from the remembered host block the pair.
  FailFourTimes(box, "a%b", "192.0.2.100");
  r = box.Ctl({"unblock", "--user", "a%25b", "--host", "192.0.2.100"});
  CHECK(r.status == 2);
  r = box.Ctl({"--json", "unblock", "--shown", "--user", "a%25b", "--host",
               "192.0.2.100"});
  CHECK(r.status == 0);
  Json j = ParseJson(r.out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["kind"] == "pair");
  CHECK(j[0]["subject"] == "a%25b@192.0.2.100");
  CHECK(j[0]["was_blocked"] == true);

  r = box.Ctl({"forget", "--typed", "--user", "a%25b"});
  CHECK(r.out == "forgot 0 remembered host(s) of user a%2525b\n");
  r = box.Ctl({"forget", "--shown", "--user", "a%25b"});
  CHECK(r.status == 0);
  CHECK(r.out == "forgot 1 remembered host(s) of user a%25b\n");
}

// The message names both users as shell words: a name of blanks and text
// cannot pass for the message's own words.
TEST_CASE("the two-ways message shows both names as one word each") {
  Sandbox box;
  const RunResult r =
      box.Ctl({"check", "--user", "e%1B as defenderctl shows it"});
  CHECK(r.status == 2);
  CHECK(r.err ==
        "defenderctl: --user 'e%1B as defenderctl shows it' reads two ways: "
        "user e%251B%20as%20defenderctl%20shows%20it as typed at login, user "
        "e%1B%20as%20defenderctl%20shows%20it as defenderctl shows it; add "
        "--typed or --shown\n");
}

// Finding of a review: a long host name cut after blanks ("1.2.3.4" and
// spaces, as a JSON subject shows it) was trimmed by --shown to the
// address 1.2.3.4, a real host, which unblock then unblocked; as shown
// with %20 it named nothing. Both now reach the cut name, and only it.
TEST_CASE("a host name cut after blanks is reached as shown, not trimmed") {
  Sandbox box("[lockout]\ndisable_user_lockout = true\n");
  box.AddUser("alice", "secret");
  const std::string rhost = "1.2.3.4" + std::string(300, ' ') + "x";
  FailFourTimes(box, "mallory", rhost);
  FailFourTimes(box, "mallory", "1.2.3.4");
  const Json listed = ParseJson(box.Ctl({"--json", "list", "--hosts"}).out);
  REQUIRE(listed.size() == 2);
  const std::string cut = "1.2.3.4" + std::string(249, ' ');
  CHECK(listed[0]["subject"] == "1.2.3.4");
  CHECK(listed[1]["subject"] == cut);
  std::string cell = "1.2.3.4";
  for (int i = 0; i < 249; ++i) cell += "%20";
  // As typed, the JSON text is the address; as shown, the cut name.
  RunResult r = box.Ctl({"unblock", "--host", cut});
  CHECK(r.status == 2);
  CHECK(r.err == "defenderctl: --host '" + cut +
                     "' reads two ways: host 1.2.3.4 as given at login, "
                     "host " +
                     cell +
                     " as defenderctl shows it; add --typed or --shown\n");
  r = box.Ctl({"unblock", "--shown", "--host", cut});
  CHECK(r.out == "unblocked host " + cell + "\n");
  CHECK(box.Ctl({"check", "--user", "alice", "--host", "1.2.3.4"}).status == 1);
  FailFourTimes(box, "mallory", rhost);
  r = box.Ctl({"unblock", "--host", cell});
  CHECK(r.status == 2);
  r = box.Ctl({"unblock", "--shown", "--host", cell});
  CHECK(r.out == "unblocked host " + cell + "\n");
  r = box.Ctl({"unblock", "--host", "1.2.3.4"});
  CHECK(r.out == "unblocked host 1.2.3.4\n");
  CHECK(box.Ctl({"list", "--hosts"}).out == "no blocked hosts\n");
}

// Findings of reviews: a name's '/' and '@' are escaped, so a host name
// cannot pass for a network; the text of a network, as list shows it,
// names the network, of any prefix (a block made under another
// ipv6_prefix); other network text names nothing, and check, which asks
// about a login from an address, refuses a network.
TEST_CASE("a network as list shows it is the network, never a name") {
  Sandbox box("[lockout]\ndisable_user_lockout = true\n");
  // A client that names itself as a network blocks a name, not the /64.
  FailFourTimes(box, "mallory", "2001:DB9::/64");
  Json listed = ParseJson(box.Ctl({"--json", "list", "--hosts"}).out);
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["subject"] == "2001:db9::%2F64");
  CHECK(box.Ctl({"check", "--user", "dave", "--host", "2001:db9::5"}).status ==
        0);
  RunResult r = box.Ctl({"unblock", "--host", "2001:db9::%2F64"});
  CHECK(r.status == 2);
  r = box.Ctl({"unblock", "--shown", "--host", "2001:db9::%2F64"});
  CHECK(r.out == "unblocked host 2001:db9::%2F64\n");

  // The network itself, typed or shown, and one of another prefix.
  REQUIRE(box.Ctl({"block", "--host", "2001:db8::5", "--permanent"}).status ==
          0);
  box.WriteConfig(ReadFile(box.config()) + "ipv6_prefix = 48\n");
  REQUIRE(box.Ctl({"block", "--host", "2001:db7::5", "--permanent"}).status ==
          0);
  listed = ParseJson(box.Ctl({"--json", "list", "--hosts"}).out);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["subject"] == "2001:db7::/48");
  CHECK(listed[1]["subject"] == "2001:db8::/64");
  CHECK(box.Ctl({"unblock", "--shown", "--host", "2001:db8::/64"}).out ==
        "unblocked host 2001:db8::/64\n");
  CHECK(box.Ctl({"unblock", "--host", "2001:db7::/48"}).out ==
        "unblocked host 2001:db7::/48\n");
  CHECK(box.Ctl({"list", "--hosts"}).out == "no blocked hosts\n");

  for (const char* net :
       {"10.0.0.0/8", "198.51.100.7/32", "2001:db8::5/128", "2001:db8::1/47"}) {
    INFO(net);
    r = box.Ctl({"block", "--host", net});
    CHECK(r.status == 2);
    CHECK(r.err == std::string("defenderctl: --host ") + net +
                       ": no host subject is such a network (hosts are IPv4 "
                       "addresses, IPv6 /48 networks and names); give an "
                       "address\n");
  }
  r = box.Ctl({"check", "--user", "dave", "--host", "2001:db8::/48"});
  CHECK(r.status == 2);
  CHECK(r.err ==
        "defenderctl: --host 2001:db8::/48: check asks about a login, which "
        "comes from an address: give one of the network's\n");
}

// A host name holds escapes too (PAM_RHOST is what a program set: a
// name with a control character or a blank), and log lines show it so.
TEST_CASE("a host name as shown reads two ways; --shown names it") {
  Sandbox box("[lockout]\ndisable_user_lockout = true\n");
  box.AddUser("alice", "secret");
  FailFourTimes(box, "mallory", "Evil\x1B.Example");
  FailFourTimes(box, "mallory", "a b");
  const Json listed = ParseJson(box.Ctl({"--json", "list", "--hosts"}).out);
  REQUIRE(listed.size() == 2);
  CHECK(listed[0]["subject"] == "a b");
  CHECK(listed[1]["subject"] == "evil%1B.example");
  CHECK(box.Ctl({"list", "--hosts"}).out.find("\nhost  a%20b ") !=
        std::string::npos);

  const std::string error =
      "defenderctl: --host evil%1B.example reads two ways: host "
      "evil%251b.example as given at login, host evil%1B.example as "
      "defenderctl shows it; add --typed or --shown\n";
  const std::vector<std::vector<std::string>> commands = {
      {"unblock", "--host", "evil%1B.example"},
      {"attempts", "--host", "evil%1B.example"},
      {"block", "--host", "evil%1B.example"},
      {"check", "--user", "alice", "--host", "evil%1B.example"},
      {"forget", "--user", "alice", "--host", "evil%1B.example"}};
  for (const std::vector<std::string>& args : commands) {
    INFO(args[0]);
    const RunResult r = box.Ctl(args);
    CHECK(r.status == 2);
    CHECK(r.out == "");
    CHECK(r.err == error);
  }

  RunResult r =
      box.Ctl({"check", "--shown", "--user", "alice", "--host", "a%20b"});
  CHECK(r.status == 1);
  CHECK(r.out.find("refused: host a%20b is blocked for 5m 0s\n") == 0);
  r = box.Ctl({"--json", "attempts", "--shown", "--host", "evil%1B.example"});
  CHECK(r.status == 0);
  const Json attempts = ParseJson(r.out);
  REQUIRE(attempts.size() == 4);
  CHECK(attempts[0]["host"] == "evil%1B.example");
  r = box.Ctl({"unblock", "--shown", "--host", "evil%1B.example"});
  CHECK(r.status == 0);
  CHECK(r.out == "unblocked host evil%1B.example\n");
  r = box.Ctl({"unblock", "--shown", "--host", "a%20b"});
  CHECK(r.out == "unblocked host a%20b\n");
  CHECK(box.Ctl({"list", "--hosts"}).out == "no blocked hosts\n");
  CHECK(box.Login("alice", "secret", "Evil\x1B.Example") == 0);
  CHECK(box.Login("alice", "secret", "a b") == 0);

  // Not how defenderctl shows a host: a capital (names are lower-cased),
  // an escape it never writes, an address with an escaped zone.
  for (const char* arg : {"EVIL%1B.example", "evil%1b.example",
                          "%65vil%1B.example", "fe80::1%25eth0"}) {
    INFO(arg);
    r = box.Ctl({"unblock", "--shown", "--host", arg});
    CHECK(r.status == 2);
    CHECK(r.err == "defenderctl: --host " + std::string(arg) +
                       " is not a host name as defenderctl shows it "
                       "(--shown)\n");
  }
  // A host with no escape reads one way, with or without a flag.
  CHECK(box.Ctl({"block", "--shown", "--host", "198.51.100.7"})
            .out.find("blocked host 198.51.100.7 until") == 0);
  CHECK(box.Ctl({"unblock", "--host", "::ffff:198.51.100.7"}).out ==
        "unblocked host 198.51.100.7\n");
}

TEST_CASE("--typed and --shown: usage") {
  Sandbox box;
  RunResult r = box.Ctl({"unblock", "--typed", "--all"});
  CHECK(r.status == 2);
  r = box.Ctl({"attempts", "--shown"});
  CHECK(r.status == 2);
  CHECK(r.err == "defenderctl: --shown needs --user or --host\n");
  r = box.Ctl({"block", "--typed", "--permanent"});
  CHECK(r.status == 2);
  CHECK(r.out == "");
  r = box.Ctl({"check", "--typed", "--shown", "--user", "alice"});
  CHECK(r.status == 2);
  CHECK(r.err.find("excludes") != std::string::npos);
  // A plain name reads the same either way, with or without a flag.
  CHECK(box.Ctl({"block", "--shown", "--user", "bob"}).status == 0);
  CHECK(box.Ctl({"unblock", "--typed", "--user", "bob"}).out ==
        "unblocked user bob\n");
  CHECK(box.Ctl({"block", "--user", "bob"}).status == 0);
  CHECK(box.Ctl({"unblock", "--user", "bob"}).out == "unblocked user bob\n");
}

}  // namespace
}  // namespace defender::testing
