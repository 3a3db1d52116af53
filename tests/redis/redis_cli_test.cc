// defenderctl on the Redis store: the real binary (test clock) reads the
// fleet-wide view that two "hosts" made through the real module on one
// redis-server: list, check, unblock, block --permanent and stats.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <security/pam_appl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "common/redis_conn.h"
#include "common/redis_store.h"
#include "tests/redis/fleet.h"
#include "tests/redis/redis_server.h"

namespace defender::testing {
namespace {

using Json = nlohmann::json;

constexpr int64_t kT0 = 1'800'000'000;

struct CtlResult {
  int status = -1;
  std::string out;
  std::string err;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs $DEFENDERCTL_TESTCLOCK -c CONFIG ARGS... with stdout and stderr in
// files of `dir`.
CtlResult Ctl(const TempDir& dir, const std::string& config,
              const std::vector<std::string>& args) {
  const char* ctl = getenv("DEFENDERCTL_TESTCLOCK");
  REQUIRE_MESSAGE(ctl != nullptr, "DEFENDERCTL_TESTCLOCK is not set");
  std::vector<std::string> argv = {ctl, "-c", config};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (std::string& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const std::string out_path = dir.path() + "/ctl.out";
  const std::string err_path = dir.path() + "/ctl.err";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0) _exit(126);
    dup2(out, 1);
    dup2(err, 2);
    setenv("TZ", "UTC", 1);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CtlResult r;
  r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadAll(out_path);
  r.err = ReadAll(err_path);
  return r;
}

Json ParseJson(const std::string& text) {
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  REQUIRE_MESSAGE(!j.is_discarded(), "not JSON: ", text);
  return j;
}

std::string RedisToml(const RedisServer& server) {
  return "url = \"" + server.url() +
         "/0\"\nconnect_timeout_ms = 2000\ncommand_timeout_ms = 2000\n"
         "on_error = \"closed\"\n";
}

SubjectState InRedis(const RedisServer& server, const Subject& who,
                     int64_t now) {
  RedisSettings s;
  s.url = server.url();
  RedisConnection c(s);
  RedisStore store(&c, {});
  std::vector<SubjectState> out;
  std::string err;
  REQUIRE_MESSAGE(store.Get({&who, 1}, now, &out, &err), err);
  return out[0];
}

}  // namespace

TEST_CASE("defenderctl shows and changes the fleet-wide Redis view") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis));
  const FleetHost web2("web2", RedisToml(redis));
  const TempDir out;
  SetNow(kT0);

  // alice fails twice on each host from 192.0.2.1: the 4th blocks alice
  // and the host for cooloff_time (600 s), fleet-wide.
  for (int i = 0; i < 2; ++i) {
    CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
    CHECK(web2.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  }
  // An administrator on web2 blocks a host for good.
  CtlResult r = Ctl(out, web2.config_path(),
                    {"block", "--host", "203.0.113.5", "--permanent"});
  CHECK(r.status == 0);
  CHECK(r.err == "");

  SetNow(kT0 + 100);
  // Both hosts' CLIs see the same three blocks.
  for (const FleetHost* host : {&web1, &web2}) {
    r = Ctl(out, host->config_path(), {"list", "--json"});
    CHECK(r.status == 0);
    const Json j = ParseJson(r.out);
    REQUIRE(j.is_array());
    REQUIRE(j.size() == 3);
    CHECK(j[0]["kind"] == "user");
    CHECK(j[0]["subject"] == "alice");
    CHECK(j[0]["failures"] == 4);
    CHECK(j[0]["until"] == kT0 + 600);
    CHECK(j[0]["remaining_seconds"] == 500);
    CHECK(j[0]["permanent"] == false);
    CHECK(j[1]["kind"] == "host");
    CHECK(j[1]["subject"] == "192.0.2.1");
    CHECK(j[1]["failures"] == 4);
    CHECK(j[1]["until"] == kT0 + 600);
    CHECK(j[1]["remaining_seconds"] == 500);
    CHECK(j[1]["permanent"] == false);
    CHECK(j[2]["kind"] == "host");
    CHECK(j[2]["subject"] == "203.0.113.5");
    CHECK(j[2]["failures"] == 0);
    CHECK(j[2]["until"].is_null());
    CHECK(j[2]["remaining_seconds"].is_null());
    CHECK(j[2]["permanent"] == true);
  }

  // check: refused with the reason, exit 1.
  r = Ctl(out, web1.config_path(),
          {"check", "--user", "alice", "--host", "198.51.100.7"});
  CHECK(r.status == 1);
  CHECK(r.out.rfind("refused: user alice is blocked for 8m 20s\n", 0) == 0);
  r = Ctl(out, web2.config_path(),
          {"--json", "check", "--user", "bob", "--host", "203.0.113.5"});
  CHECK(r.status == 1);
  Json j = ParseJson(r.out);
  CHECK(j["refused"] == true);
  CHECK(j["reason"] == "host 203.0.113.5 is blocked permanently");
  CHECK(j["permanent"] == true);
  CHECK(web2.Login("bob", kPassword, "203.0.113.5").auth == PAM_AUTH_ERR);
  r = Ctl(out, web2.config_path(),
          {"check", "--user", "bob", "--host", "198.51.100.7"});
  CHECK(r.status == 0);

  // stats: the fleet's counts.
  r = Ctl(out, web1.config_path(), {"stats", "--format", "json"});
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
  r = Ctl(out, web1.config_path(), {"unblock", "--user", "alice"});
  CHECK(r.status == 0);
  CHECK(InRedis(redis, {SubjectKind::kUser, "alice"}, kT0 + 100) ==
        SubjectState{});
  CHECK(web2.Login("alice", kPassword, "198.51.100.7").auth == PAM_SUCCESS);
  // The host stays blocked.
  CHECK(Ctl(out, web2.config_path(),
            {"check", "--user", "alice", "--host", "192.0.2.1"})
            .status == 1);
  j = ParseJson(Ctl(out, web2.config_path(), {"list", "--json"}).out);
  REQUIRE(j.size() == 2);
  CHECK(j[0]["subject"] == "192.0.2.1");
  CHECK(j[1]["subject"] == "203.0.113.5");
}

}  // namespace defender::testing
