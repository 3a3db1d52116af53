// The hostile PAM_USER / PAM_RHOST values of hostile_cases.h through the
// real libpam with store.backend = "redis" and a real redis-server: no
// crash, no hang, and afterwards the whole keyspace (walked with SCAN) holds
// exactly the keys of redis_store.h for the expected subjects:
//   <prefix>:{user:NAME}:s, <prefix>:{host:NAME}:s (and ":h" once blocked),
// NAME being the normalised subject with every byte outside
// [A-Za-z0-9._@:/+=-] written as %XX. No key outside the prefix, no key
// longer than the bound, no byte outside the allowed set. A normal login
// afterwards works.
#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "hostile_cases.h"
#include "tests/support/redis_server.h"

namespace hardening {
namespace {

using defender::testing::RedisServer;

const std::string kPrefix = "defender";

// Bytes a name keeps as they are in a key (redis_store.h).
bool KeptByte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c != 0 && strchr("._@:/+=-", c));
}

// The key name of a subject, written out independently of the store.
std::string KeyName(const std::string& name) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (KeptByte(c)) {
      out += ch;
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

std::string Key(const std::string& kind, const std::string& name, char type) {
  return kPrefix + ":{" + kind + ":" + KeyName(name) + "}:" + type;
}

// A subject is at most 256 bytes (normalize.h), each written as up to 3; a
// pair "U@H" (doc/DESIGN.md §3.14) twice that and its '@'; the kind
// "remember" has 8 letters.
constexpr size_t kMaxKeyBytes = 8 /* prefix */ + 2 + 8 + 1 + 3 * 513 + 3;

bool UpperHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

// True when `key` has exactly the layout above: the prefix, a kind, a name
// of kept bytes and upper-case %XX escapes, and a type.
bool WellFormed(const std::string& key) {
  if (key.size() > kMaxKeyBytes) return false;
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (!KeptByte(c) && c != '%' && c != '{' && c != '}') return false;
  }
  // Record and history keys of subjects; remembered hosts of a user.
  for (const char* kind : {"user", "host", "pair", "remember"}) {
    const std::string head = kPrefix + ":{" + kind + ":";
    if (key.compare(0, head.size(), head) != 0) continue;
    if (key.size() < head.size() + 3) return false;
    const std::string tail = key.substr(key.size() - 3);
    if (std::string(kind) == "remember" ? tail != "}:r"
                                        : tail != "}:s" && tail != "}:h") {
      return false;
    }
    const std::string name =
        key.substr(head.size(), key.size() - head.size() - 3);
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
      const auto c = static_cast<unsigned char>(name[i]);
      if (c == '{' || c == '}') return false;
      if (c != '%') continue;
      if (i + 2 >= name.size() || !UpperHex(name[i + 1]) ||
          !UpperHex(name[i + 2])) {
        return false;
      }
      i += 2;
    }
    return true;
  }
  return false;
}

// Every key of the server, walked with SCAN, as exact bytes.
std::set<std::string> Keyspace(const RedisServer& redis) {
  std::set<std::string> keys;
  redisContext* c = redisConnect("127.0.0.1", redis.port());
  REQUIRE(c != nullptr);
  REQUIRE(c->err == 0);
  std::string cursor = "0";
  do {
    auto* r = static_cast<redisReply*>(
        redisCommand(c, "SCAN %s COUNT 1000", cursor.c_str()));
    REQUIRE(r != nullptr);
    REQUIRE(r->type == REDIS_REPLY_ARRAY);
    REQUIRE(r->elements == 2);
    cursor.assign(r->element[0]->str, r->element[0]->len);
    for (size_t i = 0; i < r->element[1]->elements; ++i) {
      const redisReply* k = r->element[1]->element[i];
      keys.emplace(k->str, k->len);
    }
    freeReplyObject(r);
  } while (cursor != "0");
  redisFree(c);
  return keys;
}

std::string RedisConfig(const RedisServer& redis, int limit) {
  return "backend = \"redis\"\nkey_prefix = \"" + kPrefix +
         "\"\n\n[redis]\nurl = \"" + redis.url() +
         "\"\non_error = \"closed\"\nconnect_timeout_ms = 2000\n"
         "command_timeout_ms = 2000\n\n[lockout]\nfailure_limit = " +
         std::to_string(limit) + "\n";
}

std::string Show(const std::set<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) out += "[" + k + "] ";
  return out;
}

TEST_CASE("hostile values make only well-formed keys under the prefix") {
  SetNow(1'800'000'000);
  RedisServer redis;
  for (const Case& c : Cases()) {
    INFO("case: ", std::string(c.name));
    REQUIRE(redis.Cmd({"FLUSHALL"}) == "OK");
    ClearLog();
    Env env(RedisConfig(redis, 5));
    Login hostile;
    hostile.user = c.user;
    hostile.prompted_user = c.prompted_user;
    hostile.rhost = c.rhost;
    const LoginResult r = RunLogin(env, hostile);
    INFO("log: ", LogText());
    CHECK(r.auth == PAM_AUTH_ERR);
    CHECK(r.seconds < 5.0);

    std::set<std::string> want;
    if (c.want_user) want.insert(Key("user", *c.want_user, 's'));
    if (c.want_host) want.insert(Key("host", *c.want_host, 's'));
    const std::set<std::string> keys = Keyspace(redis);
    INFO("keys: ", Show(keys));
    CHECK(keys == want);
    for (const std::string& k : keys) {
      CHECK(WellFormed(k));
      CHECK(redis.Cmd({"HGET", k, "f"}) == "1");
    }

    // A normal login afterwards works, through the same server.
    CheckNormalLogin(env);
    for (const std::string& k : Keyspace(redis)) CHECK(WellFormed(k));
  }
}

TEST_CASE("a blocked hostile subject keeps its record and history keys") {
  SetNow(1'800'000'000);
  RedisServer redis;
  Env env(RedisConfig(redis, 2));
  Login hostile;
  hostile.user = "alice\nbob";
  hostile.rhost = kRedisFrame;
  for (int i = 0; i < 3; ++i) {
    CHECK(RunLogin(env, hostile).auth == PAM_AUTH_ERR);
  }
  const std::string user = "alice%0Abob";
  const std::string host = "*3%0D%0A$3%0D%0Aset%0D%0A$1%0D%0Ak%0D%0A$1%0D%0Av";
  const std::set<std::string> keys = Keyspace(redis);
  INFO("keys: ", Show(keys));
  CHECK(keys ==
        std::set<std::string>{Key("user", user, 's'), Key("user", user, 'h'),
                              Key("host", host, 's'), Key("host", host, 'h')});
  CHECK(Key("user", user, 's') == "defender:{user:alice%250Abob}:s");
  for (const std::string& k : keys) CHECK(WellFormed(k));
  CHECK(redis.Cmd({"HGET", Key("user", user, 's'), "f"}) == "3");
  CHECK(redis.Cmd({"HGET", Key("user", user, 's'), "b"}) == "1");
  // The frame in the host name was never run as a command.
  CHECK(redis.Cmd({"EXISTS", "k"}) == "0");

  // alice from another host logs in; the hostile subject stays refused.
  CheckOnlyHostileRefused(env, hostile);
}

}  // namespace
}  // namespace hardening

int main(int argc, char** argv) {
  return hardening::RunTests(argc, argv, /*needs_root=*/false);
}
