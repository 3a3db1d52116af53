// redis.on_error = "local" with Redis down: whole logins through the real
// libpam keep counting in the local store, and the module says so in
// syslog once per login (PAM handle), not once per step.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "harness.h"

namespace hardening {
namespace {

constexpr char kFallback[] =
    "Redis store unavailable, counting in the local store (on_error = local)";

// A loopback port with nothing listening (bound to port 0 and released).
int DeadPort() { return defender::testing::FreePort(); }

// Captured lines mentioning Redis.
int RedisLines() {
  int n = 0;
  for (const std::string& line : CapturedLog()) {
    if (line.find("Redis") != std::string::npos) ++n;
  }
  return n;
}

int FallbackLines() {
  int n = 0;
  for (const std::string& line : CapturedLog()) {
    if (line.find(kFallback) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("on_error = local: one syslog line per login, local counting") {
  SetNow(1'800'000'000);
  const std::string url =
      "redis://127.0.0.1:" + std::to_string(DeadPort()) + "/0";
  Env env("backend = \"redis\"\n\n[redis]\nurl = \"" + url +
          "\"\non_error = \"local\"\nconnect_timeout_ms = 200\n"
          "command_timeout_ms = 200\n\n[lockout]\nfailure_limit = 3\n");

  // Failed logins: preauth and authfail each fall back; one line each login.
  for (int i = 1; i <= 2; ++i) {
    ClearLog();
    const LoginResult r = RunLogin(env, Login{});
    INFO("log: ", LogText());
    CHECK(r.auth == PAM_AUTH_ERR);
    CHECK(r.seconds < 2.0);
    CHECK(FallbackLines() == 1);
    CHECK(RedisLines() == 1);
    CHECK(Failures(env.db(), "user", "alice") == i);
    CHECK(Failures(env.db(), "host", "192.0.2.10") == i);
  }

  // A successful login with account enforce: preauth, authsucc and enforce
  // fall back; still one line. The success resets alice locally.
  ClearLog();
  Login ok;
  ok.password = "secret";
  const LoginResult r = RunLogin(env, ok);
  INFO("log: ", LogText());
  CHECK(r.auth == PAM_SUCCESS);
  CHECK(r.account == PAM_SUCCESS);
  CHECK(FallbackLines() == 1);
  CHECK(RedisLines() == 1);
  CHECK(Failures(env.db(), "user", "alice") == 0);

  // The local store blocks: three failures of bob from another host, the
  // fourth attempt is refused even with the right password.
  Login bob;
  bob.user = "bob";
  bob.rhost = "198.51.100.3";
  for (int i = 0; i < 4; ++i) {
    ClearLog();
    CHECK(RunLogin(env, bob).auth == PAM_AUTH_ERR);
    CHECK(FallbackLines() == 1);
  }
  CHECK(FindSubject(env.db(), "user", "bob").value().blocked != 0);
  bob.password = "secret";
  ClearLog();
  CHECK(RunLogin(env, bob).auth == PAM_AUTH_ERR);
  CHECK(FallbackLines() == 1);
}

}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
