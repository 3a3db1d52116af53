// redis.on_error = "local" with Redis down: whole logins through the real
// libpam keep counting in the local store, and the module says so in
// syslog once per login (PAM handle), not once per step. Without libhiredis
// every on_error value does what it says.
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
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

// libhiredis is loaded when the Redis store is first used
// (common/hiredis_api.h). PAM_DEFENDER_TEST_HIREDIS makes the test module
// load a library that does not exist: the error names it, and
// redis.on_error decides as for any Redis failure. First in this file: the
// module stays loaded (-z nodelete), and so does a libhiredis it has loaded,
// for the rest of the process.
TEST_CASE("libhiredis missing: on_error decides, syslog says why") {
  REQUIRE_FALSE(Mapped("libhiredis"));
  SetNow(1'800'000'000);
  constexpr char kLibrary[] = "libhiredis-missing.so.0";
  const std::string why = std::string("cannot load ") + kLibrary + ": " +
                          kLibrary +
                          ": cannot open shared object file: No such file or "
                          "directory";
  REQUIRE(setenv("PAM_DEFENDER_TEST_HIREDIS", kLibrary, 1) == 0);
  // A listening socket where Redis would be: nothing may connect to it.
  sockaddr_in addr{};
  const int listener = defender::testing::BindLoopback(16, &addr);
  REQUIRE(listener >= 0);
  const auto config = [&](const std::string& on_error) {
    return "backend = \"redis\"\n\n[redis]\nurl = \"redis://127.0.0.1:" +
           std::to_string(ntohs(addr.sin_port)) + "\"\non_error = \"" +
           on_error + "\"\n\n[lockout]\nfailure_limit = 3\n";
  };
  Login ok;
  ok.password = "secret";

  SUBCASE("local: counted in the local store") {
    Env env(config("local"));
    ClearLog();
    CHECK(RunLogin(env, Login{}).auth == PAM_AUTH_ERR);
    const std::string log = LogText();
    INFO("log: ", log);
    CHECK(RedisLines() == 1);
    CHECK(LogHas(std::string(kFallback) + ": " + why));
    CHECK(Failures(env.db(), "user", "alice") == 1);
    CHECK(RunLogin(env, ok).auth == PAM_SUCCESS);
    CHECK(Failures(env.db(), "user", "alice") == 0);
  }
  SUBCASE("open: allowed") {
    Env env(config("open"));
    ClearLog();
    const LoginResult r = RunLogin(env, ok);
    const std::string log = LogText();
    INFO("log: ", log);
    CHECK(r.auth == PAM_SUCCESS);
    CHECK(r.account == PAM_SUCCESS);
    CHECK(RedisLines() == 1);
    CHECK(
        LogHas("Redis store unavailable (on_error = open: allowing): " + why));
    CHECK(RunLogin(env, Login{}).auth == PAM_AUTH_ERR);
  }
  SUBCASE("closed: refused") {
    Env env(config("closed"));
    ClearLog();
    CHECK(RunLogin(env, ok).auth == PAM_AUTH_ERR);
    const std::string log = LogText();
    INFO("log: ", log);
    CHECK(RedisLines() == 1);
    CHECK(LogHas("Redis store unavailable (on_error = closed: refusing): " +
                 why));
  }
  // Nothing connected.
  pollfd pending = {listener, POLLIN, 0};
  CHECK(poll(&pending, 1, 0) == 0);
  close(listener);
  unsetenv("PAM_DEFENDER_TEST_HIREDIS");
}

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
