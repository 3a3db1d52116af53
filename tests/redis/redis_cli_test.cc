// defenderctl on the Redis store: the real binary (test clock) reads the
// fleet-wide view that two "hosts" made through the real module on one
// redis-server: list, check, unblock, block --permanent and stats.
#include <doctest/doctest.h>
#include <security/pam_appl.h>

#include <string>
#include <vector>

#include "tests/redis/fleet.h"
#include "tests/support/json.h"
#include "tests/support/process.h"
#include "tests/support/redis_server.h"

namespace defender::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000;

// Runs $DEFENDERCTL_TESTCLOCK -c CONFIG ARGS... in UTC.
RunResult Ctl(const std::string& config, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {EnvPath("DEFENDERCTL_TESTCLOCK"), "-c",
                                   config};
  argv.insert(argv.end(), args.begin(), args.end());
  return Spawn(argv, "", {"TZ=UTC"});
}

std::string RedisToml(const RedisServer& server) {
  return "url = \"" + server.url() +
         "/0\"\nconnect_timeout_ms = 2000\ncommand_timeout_ms = 2000\n"
         "on_error = \"closed\"\n";
}

}  // namespace

TEST_CASE("defenderctl shows and changes the fleet-wide Redis view") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis));
  const FleetHost web2("web2", RedisToml(redis));
  SetNow(kT0);

  // alice fails twice on each host from 192.0.2.1: the 4th blocks alice
  // and the host for cooloff_time (600 s), fleet-wide.
  for (int i = 0; i < 2; ++i) {
    CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
    CHECK(web2.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  }
  // An administrator on web2 blocks a host for good.
  RunResult r = Ctl(web2.config_path(),
                    {"block", "--host", "203.0.113.5", "--permanent"});
  CHECK(r.status == 0);
  CHECK(r.err == "");

  SetNow(kT0 + 100);
  // Both hosts' CLIs see the same three blocks.
  for (const FleetHost* host : {&web1, &web2}) {
    r = Ctl(host->config_path(), {"list", "--json"});
    CHECK(r.status == 0);
    const Json j = ParseJson(r.out);
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 3);
    CheckListed(j[0], {"user", "alice", 4, kT0 + 600, 500, false});
    CheckListed(j[1], {"host", "192.0.2.1", 4, kT0 + 600, 500, false});
    CheckListed(j[2],
                {"host", "203.0.113.5", 0, std::nullopt, std::nullopt, true});
  }

  // check: refused with the reason, exit 1.
  r = Ctl(web1.config_path(),
          {"check", "--user", "alice", "--host", "198.51.100.7"});
  CHECK(r.status == 1);
  CHECK(r.out.rfind("refused: user alice is blocked for 8m 20s\n", 0) == 0);
  r = Ctl(web2.config_path(),
          {"--json", "check", "--user", "bob", "--host", "203.0.113.5"});
  CHECK(r.status == 1);
  Json j = ParseJson(r.out);
  CHECK(j["refused"] == true);
  CHECK(j["reason"] == "host 203.0.113.5 is blocked permanently");
  CHECK(j["permanent"] == true);
  CHECK(web2.Login("bob", kPassword, "203.0.113.5").auth == PAM_AUTH_ERR);
  r = Ctl(web2.config_path(),
          {"check", "--user", "bob", "--host", "198.51.100.7"});
  CHECK(r.status == 0);

  // stats: the fleet's counts.
  r = Ctl(web1.config_path(), {"stats", "--format", "json"});
  CHECK(r.status == 0);
  j = ParseJson(r.out);
  CHECK(j["blocked_users"] == 1);
  CHECK(j["blocked_hosts"] == 2);
  CHECK(j["permanent_blocks"] == 1);
  CHECK(j["failing_users"] == 0);
  CHECK(j["failing_hosts"] == 0);
  CHECK(j["failures"] == 8);
  CHECK(j["blocks_in_window"] == 3);

  // unblock on web1 clears alice in Redis; she logs in on web2.
  r = Ctl(web1.config_path(), {"unblock", "--user", "alice"});
  CHECK(r.status == 0);
  CHECK(InRedis(redis, {SubjectKind::kUser, "alice"}, kT0 + 100) ==
        SubjectState{});
  CHECK(web2.Login("alice", kPassword, "198.51.100.7").auth == PAM_SUCCESS);
  // The host stays blocked.
  CHECK(Ctl(web2.config_path(),
            {"check", "--user", "alice", "--host", "192.0.2.1"})
            .status == 1);
  j = ParseJson(Ctl(web2.config_path(), {"list", "--json"}).out);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["subject"] == "192.0.2.1");
  CHECK(j[1]["subject"] == "203.0.113.5");
}

}  // namespace defender::testing
