// Hostile PAM_USER, PAM_RHOST and PAM_TTY values through the real libpam:
// no crash, no hang, the store holds only bounded printable subjects (the
// exact escaped values of normalize.h), and a normal login afterwards works.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "harness.h"
#include "hostile_cases.h"

namespace hardening {
namespace {

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
    CheckNormalLogin(env);
  }
}

// An attempt without a user (PAM_USER empty) from a blocked host: the line
// leaves out "user USER" and reads "refused from H" (pam_defender(8)),
// with no doubled blank a parser would split on.
TEST_CASE("a refusal without a user is logged as refused from the host") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 1\n");
  Login nobody;
  nobody.user = "";
  nobody.rhost = "192.0.2.77";
  CHECK(RunLogin(env, nobody).auth == PAM_AUTH_ERR);
  CHECK(RunLogin(env, nobody).auth == PAM_AUTH_ERR);  // Blocks the host.
  ClearLog();
  CHECK(RunLogin(env, nobody).auth == PAM_AUTH_ERR);
  INFO("log: ", LogText());
  CHECK(LogHas("refused from 192.0.2.77: host 192.0.2.77 is blocked for "));
  CHECK_FALSE(LogHas("refused  from"));
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
  // alice from another host logs in; the blocked subject is refused, even
  // with alice's password.
  CheckOnlyHostileRefused(env, hostile);
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
