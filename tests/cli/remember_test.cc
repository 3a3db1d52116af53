// Remembered hosts (doc/DESIGN.md §3.14) end to end: the real module under
// libpam (pamtester) fills the store, defenderctl reads and changes it.
#include <doctest/doctest.h>

#include "tests/cli/harness.h"

namespace defender::testing {
namespace {

// "kind subject" of each blocked subject, from `list --json`.
std::vector<std::string> Blocked(const Sandbox& box) {
  const RunResult r = box.Ctl({"--json", "list"});
  REQUIRE(r.status == 0);
  std::vector<std::string> out;
  for (const Json& e : ParseJson(r.out)) {
    out.push_back(e["kind"].get<std::string>() + " " +
                  e["subject"].get<std::string>());
  }
  return out;
}

// "user host" of each remembered host, from `list --remembered --json`.
std::vector<std::string> Remembered(const Sandbox& box) {
  const RunResult r = box.Ctl({"--json", "list", "--remembered"});
  REQUIRE(r.status == 0);
  std::vector<std::string> out;
  for (const Json& e : ParseJson(r.out)) {
    out.push_back(e["user"].get<std::string>() + " " +
                  e["host"].get<std::string>());
  }
  return out;
}

TEST_CASE("remembered host: an attacker elsewhere cannot lock the owner out") {
  Sandbox box;
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "secret", "192.0.2.10") == 0);
  box.SetNow(kT0 + 60);
  for (int i = 0; i < 10; ++i) {
    CHECK(box.Login("alice", "wrong", "198.51.100.9") != 0);
  }
  box.SetNow(kT0 + 120);
  CHECK(Blocked(box) ==
        std::vector<std::string>{"user alice", "host 198.51.100.9"});
  // The owner, from her remembered host, with her password: in.
  CHECK(box.Login("alice", "secret", "192.0.2.10") == 0);
  // From a new host: refused, the block stays.
  CHECK(box.Login("alice", "secret", "192.0.2.77") != 0);
  CHECK(Blocked(box) ==
        std::vector<std::string>{"user alice", "host 198.51.100.9"});

  RunResult r = box.Ctl({"check", "--user", "alice", "--host", "192.0.2.10"});
  CHECK(r.status == 0);
  CHECK(r.out.rfind(
            "allowed: user alice is blocked but 192.0.2.10 is a remembered "
            "host: pair alice@192.0.2.10 has 0 failure(s), limit 3\n",
            0) == 0);
  r = box.Ctl({"check", "--user", "alice", "--host", "192.0.2.77"});
  CHECK(r.status == 1);
  CHECK(r.out.rfind("refused: user alice is blocked for 4m 0s\n", 0) == 0);

  r = box.Ctl({"list", "--remembered"});
  CHECK(r.status == 0);
  // Refreshed by the second success (kT0 + 120, 08:02), 30 days by
  // default, to the end of that hour; the last success's hour is shown.
  CHECK(r.out ==
        "USER   HOST        LAST SUCCESS         UNTIL\n"
        "alice  192.0.2.10  2027-01-15 08:00:00  2027-02-14 09:00:00\n");
  const auto j = ParseJson(box.Ctl({"--json", "list", "--remembered"}).out);
  REQUIRE(j.size() == 1);
  CHECK(j[0]["last_success"] == kT0);  // kT0 is 08:00:00, a whole hour.
  CHECK(j[0]["until"] == kT0 + 30 * 86400 + 3600);
}

TEST_CASE("a shared remembered host: the pair, then the host, refuse there") {
  Sandbox box("[lockout]\nfailure_limit_pair = 2\nfailure_limit_host = 6\n");
  box.AddUser("alice", "secret");
  box.AddUser("bob", "secret");
  CHECK(box.Login("alice", "secret", "192.0.2.10") == 0);
  // An attacker behind the same NAT: two guesses, the third blocks alice@.
  for (int i = 0; i < 3; ++i) {
    CHECK(box.Login("alice", "wrong", "192.0.2.10") != 0);
  }
  CHECK(Blocked(box) == std::vector<std::string>{"pair alice@192.0.2.10"});
  CHECK(box.Login("alice", "secret", "192.0.2.10") != 0);
  const RunResult r =
      box.Ctl({"check", "--user", "alice", "--host", "192.0.2.10"});
  CHECK(r.status == 1);
  CHECK(r.out.rfind("refused: pair alice@192.0.2.10 is blocked for 5m 0s\n",
                    0) == 0);
  // alice (3 failures, limit 3) can still log in elsewhere.
  CHECK(box.Login("alice", "secret", "192.0.2.11") == 0);
  // The host has counted those 3 failures; 4 more pass its limit of 6.
  for (int i = 0; i < 4; ++i) {
    CHECK(box.Login("carol", "wrong", "192.0.2.10") != 0);
  }
  CHECK(box.Login("bob", "secret", "192.0.2.10") != 0);
  CHECK(Blocked(box) == std::vector<std::string>{"user carol",
                                                 "host 192.0.2.10",
                                                 "pair alice@192.0.2.10"});
  // Stats and Prometheus count pairs.
  const RunResult stats = box.Ctl({"stats", "--format", "prometheus"});
  CHECK(stats.out.find("defender_blocked{kind=\"pair\"} 1\n") !=
        std::string::npos);
  CHECK(ParseJson(box.Ctl({"--json", "stats"}).out)["blocked_pairs"] == 1);
  // unblock --user --host names the pair alone.
  CHECK(box.Ctl({"unblock", "--user", "alice", "--host", "192.0.2.10"}).out ==
        "unblocked pair alice@192.0.2.10\n");
  CHECK(Blocked(box) ==
        std::vector<std::string>{"user carol", "host 192.0.2.10"});
}

TEST_CASE("remember_hosts_days = 0: no pair, the user's block refuses") {
  Sandbox box("[lockout]\nremember_hosts_days = 0\n");
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "secret", "192.0.2.10") == 0);
  for (int i = 0; i < 4; ++i) {
    CHECK(box.Login("alice", "wrong", "198.51.100.9") != 0);
  }
  CHECK(box.Login("alice", "secret", "192.0.2.10") != 0);
  CHECK(Blocked(box) ==
        std::vector<std::string>{"user alice", "host 198.51.100.9"});
  CHECK(box.Ctl({"list", "--remembered"}).out == "no remembered hosts\n");
  const RunResult r =
      box.Ctl({"check", "--user", "alice", "--host", "192.0.2.10"});
  CHECK(r.out ==
        "refused: user alice is blocked for 5m 0s\n"
        "KIND  SUBJECT     STATE\n"
        "user  alice       blocked until 2027-01-15 08:05:00 (5m 0s left), 4 "
        "failure(s), limit 3\n"
        "host  192.0.2.10  0 failure(s), limit 3\n");
}

TEST_CASE("a remembered host expires after its days") {
  Sandbox box("[lockout]\nremember_hosts_days = 1\nlockout_cooloff_time = 0\n");
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "secret", "192.0.2.10") == 0);
  for (int i = 0; i < 4; ++i) {
    CHECK(box.Login("alice", "wrong", "198.51.100.9") != 0);
  }
  // A day after the success (kT0, 08:00:00), to the end of that hour.
  box.SetNow(kT0 + 86400 + 3600 - 1);
  CHECK(box.Ctl({"check", "--user", "alice", "--host", "192.0.2.10"}).status ==
        0);
  box.SetNow(kT0 + 86400 + 3600);
  CHECK(box.Ctl({"check", "--user", "alice", "--host", "192.0.2.10"}).status ==
        1);
  CHECK(box.Login("alice", "secret", "192.0.2.10") != 0);
  CHECK(Remembered(box).empty());
  // cleanup deletes it from the store (and counts it).
  const RunResult r = box.Ctl({"--json", "cleanup"});
  CHECK(r.status == 0);
}

TEST_CASE("at most 16 remembered hosts per user; forget drops them") {
  Sandbox box;
  box.AddUser("alice", "secret");
  for (int i = 0; i < 17; ++i) {
    box.SetNow(kT0 + i);
    CHECK(box.Login("alice", "secret", "192.0.2." + std::to_string(100 + i)) ==
          0);
  }
  std::vector<std::string> want;
  for (int i = 1; i < 17; ++i) {
    want.push_back("alice 192.0.2." + std::to_string(100 + i));
  }
  CHECK(Remembered(box) == want);
  RunResult r =
      box.Ctl({"forget", "--user", "alice", "--host", "::ffff:192.0.2.101"});
  CHECK(r.status == 0);
  CHECK(r.out == "forgot 1 remembered host(s) of user alice\n");
  want.erase(want.begin());
  CHECK(Remembered(box) == want);
  r = box.Ctl({"--json", "forget", "--user", "alice"});
  CHECK(ParseJson(r.out)["forgotten"] == 15);
  CHECK(Remembered(box).empty());
  CHECK(box.Ctl({"forget", "--user", ""}).status == 2);
}

TEST_CASE("a local login (no rhost) is remembered as alice@local") {
  Sandbox box;
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "secret", "") == 0);
  CHECK(Remembered(box) == std::vector<std::string>{"alice local"});
  for (int i = 0; i < 4; ++i) {
    CHECK(box.Login("alice", "wrong", "198.51.100.9") != 0);
  }
  // sudo on her own machine still works...
  CHECK(box.Login("alice", "secret", "") == 0);
  // ...and someone at her keyboard gets failure_limit_pair guesses.
  for (int i = 0; i < 4; ++i) CHECK(box.Login("alice", "wrong", "") != 0);
  CHECK(box.Login("alice", "secret", "") != 0);
  CHECK(Blocked(box) == std::vector<std::string>{"user alice",
                                                 "host 198.51.100.9",
                                                 "pair alice@local"});
  CHECK(box.Ctl({"unblock", "--user", "alice", "--host", "local"}).out ==
        "unblocked pair alice@local\n");
  CHECK(box.Login("alice", "secret", "") == 0);
}

TEST_CASE("IPv6: the pair's host is the /64") {
  Sandbox box;
  box.AddUser("alice", "secret");
  CHECK(box.Login("alice", "secret", "2001:db8:1:2::7") == 0);
  CHECK(Remembered(box) == std::vector<std::string>{"alice 2001:db8:1:2::/64"});
  for (int i = 0; i < 4; ++i) {
    CHECK(box.Login("alice", "wrong", "198.51.100.9") != 0);
  }
  CHECK(box.Login("alice", "secret", "2001:db8:1:2:ffff::1") == 0);
  CHECK(box.Login("alice", "secret", "2001:db8:1:3::1") != 0);
}

}  // namespace
}  // namespace defender::testing
