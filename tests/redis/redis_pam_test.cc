// The module on a Redis store through real libpam: a fleet of two hosts on
// one redis-server behaves as one host; concurrent logins are counted
// exactly; each PAM step costs one EVALSHA; outages follow redis.on_error
// within the configured timeouts; a restart and events.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <security/pam_appl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "common/archive.h"
#include "common/journal.h"
#include "common/local_store.h"
#include "common/redis_conn.h"
#include "common/redis_store.h"
#include "tests/redis/fleet.h"
#include "tests/support/redis_server.h"

namespace defender::testing {
namespace {

constexpr int64_t kT0 = 1'800'000'000;
const Subject kAlice{SubjectKind::kUser, "alice"};

std::string RedisToml(const RedisServer& server, const std::string& on_error,
                      int timeout_ms = 200) {
  return "url = \"" + server.url() +
         "/0\"\nconnect_timeout_ms = " + std::to_string(timeout_ms) +
         "\ncommand_timeout_ms = " + std::to_string(timeout_ms) +
         "\non_error = \"" + on_error + "\"\n";
}

}  // namespace

TEST_CASE("two hosts on one Redis share failures and blocks") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  const FleetHost web2("web2", RedisToml(redis, "closed"));
  SetNow(kT0);

  // Failures add up across hosts: 2 on web1, 1 on web2, the 4th blocks.
  CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  CHECK(web2.Login("alice", "wrong", "192.0.2.2").auth == PAM_AUTH_ERR);
  CHECK(InRedis(redis, kAlice, kT0) == SubjectState{3, false, 0});
  // A correct password on the 4th attempt succeeds and resets the user.
  FleetHost::Result ok = web2.Login("alice", kPassword, "192.0.2.2");
  CHECK(ok.auth == PAM_SUCCESS);
  CHECK(ok.account == PAM_SUCCESS);
  CHECK(InRedis(redis, kAlice, kT0) == SubjectState{});

  for (int i = 0; i < 3; ++i) {
    CHECK(web1.Login("alice", "wrong", "192.0.2.3").auth == PAM_AUTH_ERR);
  }
  CHECK(web2.Login("alice", "wrong", "192.0.2.4").auth == PAM_AUTH_ERR);
  CHECK(InRedis(redis, kAlice, kT0) == SubjectState{4, true, kT0 + 600});
  // Blocked on both hosts, even with the right password.
  CHECK(web1.Login("alice", kPassword, "198.51.100.1").auth == PAM_AUTH_ERR);
  CHECK(web2.Login("alice", kPassword, "198.51.100.2").auth == PAM_AUTH_ERR);
  // Refused attempts are not counted.
  CHECK(InRedis(redis, kAlice, kT0).failures == 4);
  // Others are not affected.
  CHECK(web2.Login("bob", kPassword, "198.51.100.2").auth == PAM_SUCCESS);

  // The block ends on time for the whole fleet.
  SetNow(kT0 + 600);
  CHECK(web2.Login("alice", kPassword, "198.51.100.2").auth == PAM_SUCCESS);
  CHECK(web1.Login("alice", kPassword, "198.51.100.1").auth == PAM_SUCCESS);
}

// doc/DESIGN.md §3.16: report mode on the shared store counts and blocks as
// enforce does, and refuses nothing on any host of the fleet.
TEST_CASE("report mode on Redis: blocked in the store, nothing refused") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"),
                       "mode = \"report\"\n");
  const FleetHost web2("web2", RedisToml(redis, "closed"));
  SetNow(kT0);
  for (int i = 0; i < 4; ++i) {
    CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  }
  CHECK(InRedis(redis, kAlice, kT0) == SubjectState{4, true, kT0 + 600});
  const FleetHost::Result in = web1.Login("alice", kPassword, "192.0.2.1");
  CHECK(in.auth == PAM_SUCCESS);
  CHECK(in.account == PAM_SUCCESS);
  // Nothing was reset: a host of the fleet that enforces refuses her.
  CHECK(InRedis(redis, kAlice, kT0) == SubjectState{4, true, kT0 + 600});
  CHECK(web2.Login("alice", kPassword, "192.0.2.2").auth == PAM_AUTH_ERR);
}

TEST_CASE("a host blocked on one server is refused on the other") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  const FleetHost web2("web2", RedisToml(redis, "closed"));
  SetNow(kT0);
  const char* users[] = {"u1", "u2", "u3", "u4"};  // Unknown users count too.
  for (const char* u : users) {
    CHECK(web1.Login(u, "wrong", "203.0.113.9").auth == PAM_AUTH_ERR);
  }
  CHECK(InRedis(redis, {SubjectKind::kHost, "203.0.113.9"}, kT0).blocked);
  CHECK(web2.Login("bob", kPassword, "203.0.113.9").auth == PAM_AUTH_ERR);
  CHECK(web2.Login("bob", kPassword, "203.0.113.10").auth == PAM_SUCCESS);
}

TEST_CASE("each PAM step is one EVALSHA; one connection per login") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  SetNow(kT0);
  web1.Login("bob", kPassword, "192.0.2.50");  // Loads the script.
  redis.Cmd({"CONFIG", "RESETSTAT"});
  const int64_t conns = redis.InfoField("total_connections_received");

  // Failed password: preauth + authfail.
  CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  CHECK(ClientCommands(redis) == "evalsha=2");
  // +1 for the login, +1 for each of the two INFO calls of the test.
  CHECK(redis.InfoField("total_connections_received") == conns + 3);

  // Right password: preauth + authsucc + account.
  CHECK(web1.Login("alice", kPassword, "192.0.2.1").auth == PAM_SUCCESS);
  CHECK(ClientCommands(redis) == "evalsha=5");
  CHECK(redis.InfoField("total_connections_received") == conns + 6);

  // Refused: preauth only (the later steps know the handle was refused).
  for (int i = 0; i < 4; ++i) web1.Login("alice", "wrong", "192.0.2.1");
  CHECK(ClientCommands(redis) == "evalsha=13");
  CHECK(web1.Login("alice", kPassword, "192.0.2.1").auth == PAM_AUTH_ERR);
  CHECK(ClientCommands(redis) == "evalsha=14");
}

TEST_CASE("with Redis a login never opens the local database") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  SetNow(kT0);
  auto account = [&](int want) {
    PamConversation talk(kPassword);
    pam_handle_t* h = web1.Start("alice", &talk, "192.0.2.1");
    REQUIRE(h != nullptr);
    CHECK(pam_acct_mgmt(h, 0) == want);
    pam_end(h, want);
  };
  auto block = [&](const Subject& subject) {
    RedisSettings settings;
    settings.url = redis.url();
    RedisConnection c(settings);
    RedisStore store(&c, {});
    std::string err;
    REQUIRE_MESSAGE(store.Block(subject, kT0 + 600, kT0, &err), err);
  };
  // Nothing to refuse: the step reads Redis and writes nothing locally.
  account(PAM_SUCCESS);
  CHECK_FALSE(std::filesystem::exists(web1.db_path()));

  // The key login above remembered 192.0.2.1 for alice: her own block does
  // not refuse her there (doc/DESIGN.md §3.14).
  block(kAlice);
  account(PAM_SUCCESS);
  CHECK_FALSE(std::filesystem::exists(web1.db_path()));
  // A refusal (the host's block) is logged: to the journal, not to SQLite.
  block(Subject{SubjectKind::kHost, "192.0.2.1"});
  account(PAM_PERM_DENIED);
  CHECK_FALSE(std::filesystem::exists(web1.db_path()));
  const std::string& dir = web1.dir();
  REQUIRE(std::filesystem::exists(dir + "/" + kJournalName));
  std::string err;
  auto archive = AttemptArchive::Open(dir, 0, &err);
  REQUIRE_MESSAGE(archive != nullptr, err);
  IngestResult ingested;
  REQUIRE_MESSAGE(archive->Ingest(&ingested, &err), err);
  CHECK(ingested.records == 1);
  std::vector<Attempt> rows;
  REQUIRE(archive->log()->Query({}, &rows, &err));
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].user == "alice");
  CHECK(rows[0].result == "refused");
}

TEST_CASE("with Redis an unusable local database costs only the attempt row") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  SetNow(kT0);
  // A directory where the database file should be: SQLite cannot open it.
  REQUIRE(std::filesystem::create_directory(web1.db_path()));
  CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  CHECK(web1.Login("alice", "wrong", "192.0.2.1").auth == PAM_AUTH_ERR);
  CHECK(InRedis(redis, kAlice, kT0) == SubjectState{2, false, 0});
  const FleetHost::Result ok = web1.Login("alice", kPassword, "192.0.2.1");
  CHECK(ok.auth == PAM_SUCCESS);
  CHECK(ok.account == PAM_SUCCESS);
  CHECK(InRedis(redis, kAlice, kT0) == SubjectState{});
}

TEST_CASE("concurrent failures from many processes are counted exactly") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed", 2000),
                       "failure_limit_user = 1000\nfailure_limit_host = 1000");
  const FleetHost web2("web2", RedisToml(redis, "closed", 2000),
                       "failure_limit_user = 1000\nfailure_limit_host = 1000");
  SetNow(kT0);
  constexpr int kProcs = 8, kEach = 10;
  std::vector<pid_t> kids;
  for (int p = 0; p < kProcs; ++p) {
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      const FleetHost& host = p % 2 ? web1 : web2;
      int bad = 0;
      for (int i = 0; i < kEach; ++i) {
        if (host.Login("victim", "wrong", "198.51.100." + std::to_string(p))
                .auth != PAM_AUTH_ERR) {
          ++bad;
        }
      }
      _exit(bad);
    }
    kids.push_back(pid);
  }
  for (const pid_t pid : kids) {
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  CHECK(InRedis(redis, {SubjectKind::kUser, "victim"}, kT0) ==
        SubjectState{kProcs * kEach, false, 0});
  for (int p = 0; p < kProcs; ++p) {
    CHECK(InRedis(redis,
                  {SubjectKind::kHost, "198.51.100." + std::to_string(p)}, kT0)
              .failures == kEach);
  }
}

TEST_CASE("Redis down: on_error decides, logins stay within the timeouts") {
  RedisServer redis;
  constexpr int kTimeout = 100;
  // A login has at most three steps, each bounded by connect + command.
  constexpr int64_t kBoundMs = 3 * 2 * kTimeout + 400;
  SetNow(kT0);

  for (const bool paused : {false, true}) {
    CAPTURE(paused);
    const auto down = [&] { paused ? redis.Pause() : redis.Stop(); };
    const auto up = [&] { paused ? redis.Resume() : redis.Restart(); };

    SUBCASE("local: counted and blocked in the local store") {
      const FleetHost web1("web1", RedisToml(redis, "local", kTimeout));
      down();
      for (int i = 0; i < 4; ++i) {
        const FleetHost::Result r = web1.Login("alice", "wrong", "192.0.2.1");
        CHECK(r.auth == PAM_AUTH_ERR);
        CHECK(r.ms < kBoundMs);
      }
      const FleetHost::Result r = web1.Login("alice", kPassword, "192.0.2.1");
      CHECK(r.auth == PAM_AUTH_ERR);  // Blocked locally.
      CHECK(r.ms < kBoundMs);
      up();
      if (paused) {
        // The failures sent while Redis was frozen were still in its
        // sockets: it applies them when it wakes up (counted twice is the
        // safe side), so the fleet blocks alice too.
        CHECK(InRedis(redis, kAlice, kT0) == SubjectState{4, true, kT0 + 600});
        CHECK(web1.Login("alice", kPassword, "192.0.2.1").auth == PAM_AUTH_ERR);
      } else {
        // A stopped Redis knows nothing of it: the fleet's view wins.
        CHECK(web1.Login("alice", kPassword, "192.0.2.1").auth == PAM_SUCCESS);
      }
    }
    SUBCASE("open: allowed, never blocked") {
      const FleetHost web1("web1", RedisToml(redis, "open", kTimeout));
      down();
      for (int i = 0; i < 5; ++i) {
        const FleetHost::Result r = web1.Login("alice", "wrong", "192.0.2.1");
        CHECK(r.auth == PAM_AUTH_ERR);
        CHECK(r.ms < kBoundMs);
      }
      const FleetHost::Result r = web1.Login("alice", kPassword, "192.0.2.1");
      CHECK(r.auth == PAM_SUCCESS);
      CHECK(r.account == PAM_SUCCESS);
      CHECK(r.ms < kBoundMs);
      up();
    }
    SUBCASE("closed: refused") {
      const FleetHost web1("web1", RedisToml(redis, "closed", kTimeout));
      down();
      const FleetHost::Result r = web1.Login("alice", kPassword, "192.0.2.1");
      CHECK(r.auth == PAM_AUTH_ERR);
      CHECK(r.ms < kBoundMs);
      up();
      CHECK(web1.Login("alice", kPassword, "192.0.2.1").auth == PAM_SUCCESS);
    }
  }
}

// A step's time is read before its Redis call, which may last up to the
// step's deadline (connect + command timeouts) before it fails: the local
// store that takes over decides at the time it does (here 1.2 s later, so
// one second on).
TEST_CASE(
    "Redis frozen: the local fallback decides at the time Redis gave up") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "local", 600),
                       "failure_limit_user = 0\nfailure_limit_host = 0\n");
  SetNow(kT0);
  redis.Pause();
  const FleetHost::Result r = web1.Login("alice", "wrong", "192.0.2.1");
  redis.Resume();
  CHECK(r.auth == PAM_AUTH_ERR);
  CHECK(r.ms >= 2 * 1200);  // preauth and authfail each waited for Redis.
  const std::string& dir = web1.dir();
  std::string err;
  auto local = LocalStore::Open(dir, 1000, &err);
  REQUIRE_MESSAGE(local != nullptr, err);
  const Subject who[] = {kAlice, {SubjectKind::kHost, "192.0.2.1"}};
  std::vector<SubjectState> states;
  REQUIRE_MESSAGE(local->Get(who, kT0, &states, &err), err);
  for (const SubjectState& s : states) {
    CHECK(s.failures == 1);
    CHECK(s.blocked);
    CHECK(s.until == kT0 + 1 + 600);
  }
}

TEST_CASE("Redis restarted: blocks survive with persistence, logins resume") {
  RedisServer redis(
      {{"--appendonly", "yes", "--appendfsync", "always"}, false});
  const FleetHost web1("web1", RedisToml(redis, "local"));
  SetNow(kT0);
  for (int i = 0; i < 4; ++i) web1.Login("alice", "wrong", "192.0.2.1");
  REQUIRE(InRedis(redis, kAlice, kT0).blocked);
  redis.Restart();
  CHECK(InRedis(redis, kAlice, kT0).blocked);
  CHECK(web1.Login("alice", kPassword, "192.0.2.7").auth == PAM_AUTH_ERR);
  CHECK(web1.Login("bob", "wrong", "192.0.2.7").auth == PAM_AUTH_ERR);
  CHECK(InRedis(redis, {SubjectKind::kUser, "bob"}, kT0).failures == 1);
}

TEST_CASE("the module publishes block events with its host and service") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  SetNow(kT0);
  redisContext* sub = redisConnect("127.0.0.1", redis.port());
  REQUIRE((sub && !sub->err));
  redisSetTimeout(sub, {5, 0});
  freeReplyObject(redisCommand(sub, "SUBSCRIBE defender:events"));
  for (int i = 0; i < 4; ++i) web1.Login("alice", "wrong", "192.0.2.1");
  void* reply = nullptr;
  REQUIRE(redisGetReply(sub, &reply) == REDIS_OK);
  auto* r = static_cast<redisReply*>(reply);
  REQUIRE(r->elements == 3);
  const std::string msg(r->element[2]->str, r->element[2]->len);
  freeReplyObject(r);
  redisFree(sub);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  CHECK(msg.find("\"event\":\"block\"") != std::string::npos);
  CHECK(msg.find("\"subject\":\"alice\"") != std::string::npos);
  CHECK(msg.find("\"until\":" + std::to_string(kT0 + 600)) !=
        std::string::npos);
  CHECK(msg.find("\"service\":\"web1\"") != std::string::npos);
  CHECK(msg.find("\"host\":\"" + std::string(host) + "\"") !=
        std::string::npos);
}

}  // namespace defender::testing

namespace defender::testing {

TEST_CASE(
    "the connection is kept per handle, CLOEXEC, and never used after "
    "fork") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  SetNow(kT0);
  web1.Login("bob", kPassword, "192.0.2.50");  // Loads the script.
  PamConversation talk(kPassword);
  pam_handle_t* pamh = web1.Start("alice", &talk, "192.0.2.1");
  const int64_t before = redis.InfoField("total_connections_received");
  REQUIRE(pam_acct_mgmt(pamh, 0) == PAM_SUCCESS);
  REQUIRE(pam_acct_mgmt(pamh, 0) == PAM_SUCCESS);
  // One connection for two steps (+1 for the INFO below).
  CHECK(redis.InfoField("total_connections_received") == before + 2);

  // Every descriptor the process holds, the kept socket included, is
  // close-on-exec.
  int sockets = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    const int fd = std::stoi(e.path().filename());
    const int flags = fcntl(fd, F_GETFD);
    if (flags < 0) continue;  // The directory's own descriptor, now closed.
    std::error_code ec;
    const std::string target = std::filesystem::read_symlink(e.path(), ec);
    if (target.rfind("socket:", 0) == 0) {
      ++sockets;
      CAPTURE(target);
      CHECK((flags & FD_CLOEXEC) != 0);
    }
  }
  CHECK(sockets >= 1);

  // A child that inherits the handle opens its own connection.
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    const int rc = pam_acct_mgmt(pamh, 0);
    pam_end(pamh, PAM_SUCCESS);
    _exit(rc == PAM_SUCCESS ? 0 : 1);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(redis.InfoField("total_connections_received") == before + 4);
  // The parent still uses its own.
  REQUIRE(pam_acct_mgmt(pamh, 0) == PAM_SUCCESS);
  CHECK(redis.InfoField("total_connections_received") == before + 5);
  CHECK(redis.InfoField("connected_clients") == 2);  // Parent + this INFO.
  pam_end(pamh, PAM_SUCCESS);
  CHECK(redis.InfoField("connected_clients") == 1);
}

}  // namespace defender::testing

namespace defender::testing {

TEST_CASE(
    "Redis stopped in the middle of a login: the next step follows "
    "on_error within the timeouts") {
  RedisServer redis;
  SetNow(kT0);
  for (const char* mode : {"local", "open", "closed"}) {
    CAPTURE(mode);
    const FleetHost web1("web1", RedisToml(redis, mode, 100));
    PamConversation talk("wrong");
    pam_handle_t* pamh = web1.Start("carol", &talk, "192.0.2.9");
    REQUIRE(pam_acct_mgmt(pamh, 0) == PAM_SUCCESS);  // Through Redis.
    redis.Stop();
    const int64_t start = NowMs();
    const int auth = pam_authenticate(pamh, 0);  // preauth + authfail.
    const int64_t took = NowMs() - start;
    const int account = pam_acct_mgmt(pamh, 0);
    pam_end(pamh, auth);
    CHECK(auth == PAM_AUTH_ERR);
    CHECK(took < 2 * 2 * 100 + 400);
    // account (enforce) after the outage: refused only when closed.
    CHECK(account ==
          (std::string(mode) == "closed" ? PAM_PERM_DENIED : PAM_SUCCESS));
    redis.Restart();
  }
}

}  // namespace defender::testing

namespace defender::testing {

TEST_CASE("remembered hosts are shared by the fleet, one EVALSHA a step") {
  RedisServer redis;
  const FleetHost web1("web1", RedisToml(redis, "closed"));
  const FleetHost web2("web2", RedisToml(redis, "closed"));
  SetNow(kT0);
  // alice logs in on web1 from her desk: remembered for the whole fleet.
  CHECK(web1.Login("alice", kPassword, "192.0.2.10").auth == PAM_SUCCESS);
  CHECK(redis.Cmd({"ZSCORE", "defender:{remember:alice}:r", "192.0.2.10"}) ==
        std::to_string(kT0 + 30 * 86400 + 3600));  // To the hour's end.
  const int64_t ttl =
      std::stoll(redis.Cmd({"TTL", "defender:{remember:alice}:r"}));
  CHECK(ttl > 30 * 86400 - 60);
  CHECK(ttl <= 30 * 86400 + 3600);
  // An attacker blocks alice through web2.
  for (int i = 0; i < 4; ++i) {
    CHECK(web2.Login("alice", "wrong", "198.51.100.9").auth == PAM_AUTH_ERR);
  }
  CHECK(InRedis(redis, kAlice, kT0).blocked);
  // No record for the pair of a host that is not remembered.
  CHECK(redis.Cmd({"EXISTS", "defender:{pair:alice@198.51.100.9}:s"}) == "0");
  redis.Cmd({"CONFIG", "RESETSTAT"});
  // On web2, from her desk: in, at the cost of a login without the feature.
  const FleetHost::Result ok = web2.Login("alice", kPassword, "192.0.2.10");
  CHECK(ok.auth == PAM_SUCCESS);
  CHECK(ok.account == PAM_SUCCESS);
  CHECK(ClientCommands(redis) == "evalsha=3");
  CHECK(web2.Login("alice", kPassword, "192.0.2.77").auth == PAM_AUTH_ERR);
  CHECK(InRedis(redis, kAlice, kT0).blocked);  // The block stays.
  // Wrong passwords from the desk count on the pair, which blocks there.
  for (int i = 0; i < 4; ++i) {
    CHECK(web1.Login("alice", "wrong", "192.0.2.10").auth == PAM_AUTH_ERR);
  }
  const Subject pair{SubjectKind::kPair, "alice@192.0.2.10"};
  CHECK(InRedis(redis, pair, kT0) == SubjectState{4, true, kT0 + 600});
  CHECK(web2.Login("alice", kPassword, "192.0.2.10").auth == PAM_AUTH_ERR);
}

}  // namespace defender::testing
