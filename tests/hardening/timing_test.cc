// What a user can observe: a refused login and a failed one, a known user
// and an unknown one, go through the same conversation and the same store
// path; the only difference is the configured lockout message.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "harness.h"

namespace hardening {
namespace {

constexpr char kMessage[] =
    "Account locked: too many login attempts. Try again in 5 minute(s).";

TEST_CASE("unknown users are answered and stored exactly like known ones") {
  SetNow(1'800'000'000);
  Env env("[lockout]\nfailure_limit = 2\n");
  Login known, unknown;
  known.rhost = unknown.rhost = "";  // User subjects only.
  unknown.user = "zed";              // Not in the password database.
  for (int i = 0; i < 3; ++i) {
    const LoginResult a = RunLogin(env, known);
    const LoginResult b = RunLogin(env, unknown);
    CHECK(a.auth == PAM_AUTH_ERR);
    CHECK(b.auth == PAM_AUTH_ERR);
    CHECK(a.prompts == b.prompts);
  }
  const std::optional<SubjectRow> alice =
      FindSubject(env.db(), "user", "alice");
  const std::optional<SubjectRow> zed = FindSubject(env.db(), "user", "zed");
  REQUIRE(alice);
  REQUIRE(zed);
  CHECK(alice->failures == zed->failures);
  CHECK(alice->blocked == 1);
  CHECK(zed->blocked == 1);
  CHECK(alice->expires == zed->expires);
  // Both refused the same way, even with alice's real password.
  known.password = unknown.password = "secret";
  const LoginResult a = RunLogin(env, known);
  const LoginResult b = RunLogin(env, unknown);
  CHECK(a.auth == PAM_AUTH_ERR);
  CHECK(b.auth == PAM_AUTH_ERR);
  CHECK(a.prompts == b.prompts);
  CHECK(a.messages == std::vector<std::string>{kMessage});
}

TEST_CASE("a refused login differs from a failed one only by the message") {
  SetNow(1'800'000'000);
  for (const bool silent : {false, true}) {
    INFO("silent: ", silent);
    Env env("[lockout]\nfailure_limit = 1\n", silent ? "silent" : "");
    Login bob;
    bob.user = "bob";
    const LoginResult failed = RunLogin(env, bob);
    CHECK(RunLogin(env, bob).auth == PAM_AUTH_ERR);  // Blocks bob.
    bob.password = "secret";
    const LoginResult refused = RunLogin(env, bob);
    CHECK(failed.auth == PAM_AUTH_ERR);
    CHECK(refused.auth == PAM_AUTH_ERR);
    // The password is asked in both cases.
    CHECK(failed.prompts == std::vector<std::string>{"Password: "});
    if (silent) {
      CHECK(refused.prompts == failed.prompts);
      CHECK(refused.messages.empty());
    } else {
      CHECK(refused.prompts ==
            std::vector<std::string>{kMessage, "Password: "});
      CHECK(refused.messages == std::vector<std::string>{kMessage});
    }
    // A refused attempt is logged, not counted.
    CHECK(FindSubject(env.db(), "user", "bob")->failures == 2);
    CHECK(Attempts(env.db()).back().result == "refused");
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

TEST_CASE("refused and failed logins take comparable time") {
  SetNow(1'800'000'000);
  if (Exists("/dev/shm/.")) setenv("TMPDIR", "/dev/shm", 1);
  Env env("[lockout]\nfailure_limit = 1000000\n");
  Env blocked("[lockout]\nfailure_limit = 0\n");
  Login carol;
  carol.user = "carol";
  CHECK(RunLogin(blocked, carol).auth == PAM_AUTH_ERR);  // Blocks carol.
  std::vector<double> failed, refused;
  for (int i = 0; i < 25; ++i) {  // Interleaved: load affects both alike.
    const LoginResult f = RunLogin(env, carol);
    const LoginResult r = RunLogin(blocked, carol);
    REQUIRE(f.auth == PAM_AUTH_ERR);
    REQUIRE(r.auth == PAM_AUTH_ERR);
    REQUIRE(r.messages.size() == 1);
    failed.push_back(f.seconds);
    refused.push_back(r.seconds);
  }
  const double f = Median(failed), r = Median(refused);
  MESSAGE("median failed: ", f * 1000, " ms, refused: ", r * 1000, " ms");
  // Same order of magnitude: a refusal that skipped the password module or
  // the store would be many times faster.
  CHECK(r > f / 4);
  CHECK(r < f * 4);
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
