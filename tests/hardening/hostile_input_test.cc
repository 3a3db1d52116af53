// Hostile PAM_USER, PAM_RHOST and PAM_TTY values through the real libpam:
// no crash, no hang, the store holds only bounded printable subjects (the
// exact escaped values of normalize.h), and a normal login afterwards works.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "harness.h"

namespace hardening {
namespace {

struct Case {
  const char* name;
  std::optional<std::string> user;  // nullopt: asked by the conversation.
  std::string prompted_user;
  std::string rhost;
  std::optional<std::string> want_user;  // nullopt: no user subject.
  std::optional<std::string> want_host;  // nullopt: no host subject.
};

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

const std::string kRedisFrame = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";

std::vector<Case> Cases() {
  return {
      {"100 kB user name", std::string(100'000, 'A'), "", "192.0.2.1",
       std::string(256, 'A'), "192.0.2.1"},
      {"newline in user name", "eve\nroot", "", "192.0.2.1", "eve%0Aroot",
       "192.0.2.1"},
      {"control bytes and escape sequences", "\x01\x02\x1b[31mred\x7f", "",
       "192.0.2.1", "%01%02%1B[31mred%7F", "192.0.2.1"},
      {"invalid UTF-8", "\xff\xfe\xc3(\xed\xa0\x80", "", "192.0.2.1",
       "%FF%FE%C3(%ED%A0%80", "192.0.2.1"},
      {"percent sign is escaped too", "50%", "", "192.0.2.1", "50%25",
       "192.0.2.1"},
      {"multi-byte UTF-8 cut on a character boundary", Repeat("\xc3\xa9", 200),
       "", "192.0.2.1", Repeat("\xc3\xa9", 128), "192.0.2.1"},
      {"Redis protocol in the user name", kRedisFrame, "", "192.0.2.1",
       "*3%0D%0A$3%0D%0ASET%0D%0A$1%0D%0Ak%0D%0A$1%0D%0Av", "192.0.2.1"},
      {"user asked by the conversation", std::nullopt, "mallory\x1b\n",
       "192.0.2.1", "mallory%1B", "192.0.2.1"},
      {"empty user", "", "", "192.0.2.1", std::nullopt, "192.0.2.1"},
      {"shell metacharacters in rhost", "alice", "",
       "; rm -rf / #$(reboot)`id`|&>x", "alice",
       "; rm -rf / #$(reboot)`id`|&>x"},
      {"CR/LF in rhost", "alice", "", "evil.example\r\nSet-Cookie: x", "alice",
       "evil.example%0D%0Aset-cookie: x"},
      {"Redis protocol in rhost", "alice", "", kRedisFrame, "alice",
       "*3%0D%0A$3%0D%0Aset%0D%0A$1%0D%0Ak%0D%0A$1%0D%0Av"},
      {"Redis key separators and globs in rhost", "alice", "",
       "defender:user:alice*{x}?", "alice", "defender:user:alice*{x}?"},
      {"5000-character rhost", "alice", "", std::string(5000, 'h'), "alice",
       std::string(256, 'h')},
      {"5000 invalid bytes in rhost", "alice", "", std::string(5000, '\xff'),
       "alice", Repeat("%FF", 85)},
      {"empty rhost", "alice", "", "", "alice", std::nullopt},
      {"IPv4-mapped IPv6 rhost", "alice", "", "::FFFF:198.51.100.9", "alice",
       "198.51.100.9"},
      {"IPv6 with zone", "alice", "", "2001:DB8:0:0:1::1%eth0", "alice",
       "2001:db8::/64"},
  };
}

TEST_CASE("hostile user and host values are stored escaped and bounded") {
  SetNow(1'800'000'000);
  for (const Case& c : Cases()) {
    INFO("case: ", std::string(c.name));
    ClearLog();
    Env env("[lockout]\nfailure_limit = 5\n");
    Login hostile;
    hostile.user = c.user;
    hostile.prompted_user = c.prompted_user;
    hostile.rhost = c.rhost;
    hostile.tty = "\x1b]0;title\x07pts/1";
    const LoginResult r = RunLogin(env, hostile);
    CHECK(r.auth == PAM_AUTH_ERR);
    CHECK(r.seconds < 5.0);
    INFO("log: ", LogText());

    // Exactly the expected subjects, each with one failure.
    std::vector<std::pair<std::string, std::string>> want;
    if (c.want_host) want.emplace_back("host", *c.want_host);
    if (c.want_user) want.emplace_back("user", *c.want_user);
    const std::vector<SubjectRow> rows = Subjects(env.db());
    REQUIRE(rows.size() == want.size());
    for (size_t i = 0; i < rows.size(); ++i) {
      CHECK(rows[i].kind == want[i].first);
      CHECK(rows[i].subject == want[i].second);
      CHECK(rows[i].failures == 1);
      CHECK(rows[i].blocked == 0);
      CHECK(IsBoundedPrintable(rows[i].subject));
    }

    const std::vector<AttemptRow> attempts = Attempts(env.db());
    REQUIRE(attempts.size() == 1);
    CHECK(attempts[0].service == "login");
    CHECK(attempts[0].user == c.want_user.value_or(""));
    CHECK(attempts[0].host == c.want_host.value_or(""));
    CHECK(attempts[0].tty == "%1B]0;title%07pts/1");
    CHECK(attempts[0].result == "failure");
    for (const std::string& f : {attempts[0].service, attempts[0].user,
                                 attempts[0].host, attempts[0].tty}) {
      CHECK(IsBoundedPrintable(f));
    }
    CHECK(IntegrityCheck(env.db()) == "ok");

    // A normal login afterwards still works.
    Login normal;
    normal.password = "secret";
    const LoginResult ok = RunLogin(env, normal);
    CHECK(ok.auth == PAM_SUCCESS);
    CHECK(ok.account == PAM_SUCCESS);
    CHECK(ok.messages.empty());
  }
}

TEST_CASE("a hostile subject blocked past its limit stays in its own key") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 2\n");
  Login hostile;
  hostile.user = "alice\nbob";
  hostile.rhost = kRedisFrame;
  for (int i = 0; i < 3; ++i)
    CHECK(RunLogin(env, hostile).auth == PAM_AUTH_ERR);
  const std::optional<SubjectRow> user =
      FindSubject(env.db(), "user", "alice%0Abob");
  REQUIRE(user);
  CHECK(user->blocked == 1);
  CHECK(user->failures == 3);
  // Neither of the names it contains was touched.
  CHECK_FALSE(FindSubject(env.db(), "user", "alice"));
  CHECK_FALSE(FindSubject(env.db(), "user", "bob"));
  // alice from another host logs in.
  Login alice;
  alice.password = "secret";
  alice.rhost = "192.0.2.77";
  CHECK(RunLogin(env, alice).auth == PAM_SUCCESS);
  // The blocked subject is refused, even with alice's password.
  hostile.password = "secret";
  const LoginResult refused = RunLogin(env, hostile);
  CHECK(refused.auth == PAM_AUTH_ERR);
  REQUIRE(refused.messages.size() == 1);
  CHECK(refused.messages[0] ==
        "Account locked: too many login attempts. Try again in 5 minute(s).");
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
