// The Store contract (common/store.h, common/store_logic.cc) on a real
// redis-server, plus what only the RedisStore promises: one EVALSHA per
// step, keys that no name can escape, events published by the same call.
#include "common/redis_store.h"

#include <doctest/doctest.h>
#include <hiredis/hiredis.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/redis_conn.h"
#include "tests/support/redis_server.h"
#include "tests/unit/store_contract.h"

namespace defender::testing {
namespace {

const Subject kUser{SubjectKind::kUser, "alice"};
const Subject kHost{SubjectKind::kHost, "192.0.2.7"};
constexpr int64_t kNow = 1'700'000'000;

RedisServer& Server() {
  static RedisServer server;
  return server;
}

// A RedisStore on a flushed database.
struct RedisFactory {
  std::vector<std::unique_ptr<RedisConnection>> conns;
  std::unique_ptr<Store> Make() {
    Server().Cmd({"FLUSHALL"});
    RedisSettings s;
    s.url = Server().url();
    s.connect_timeout_ms = 2000;
    s.command_timeout_ms = 2000;
    conns.push_back(std::make_unique<RedisConnection>(s));
    RedisStoreOptions o;
    o.origin_host = "web-1";
    o.service = "sshd";
    return std::make_unique<RedisStore>(conns.back().get(), o);
  }
};

FailureOutcome Failure(Store& s, const Subject& who, int64_t limit,
                       const LockoutParams& p, int64_t now) {
  std::vector<FailureOutcome> out;
  std::string err;
  const FailureRequest req{who, limit};
  bool refused = false;
  REQUIRE_MESSAGE(
      s.RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount, p, now,
                      &out, &refused, &err),
      err);
  REQUIRE(out.size() == 1);
  return out[0];
}

SubjectState State(Store& s, const Subject& who, int64_t now) {
  std::vector<SubjectState> out;
  std::string err;
  REQUIRE_MESSAGE(s.Get({&who, 1}, now, &out, &err), err);
  REQUIRE(out.size() == 1);
  return out[0];
}

const LockoutParams kParams{300, {600}, 86400};

}  // namespace

// The suite the memory and local stores pass (tests/unit/store_test.cc).
TEST_CASE("RedisStore follows the shared store contract") {
  RedisFactory f;
  CheckStoreContract(f);
}

TEST_CASE("RedisStore: limits, frozen counter, block end") {
  RedisFactory f;
  auto s = f.Make();
  for (int i = 1; i <= 3; ++i) {
    const FailureOutcome o = Failure(*s, kUser, 3, kParams, kNow + i);
    CHECK(o.state == SubjectState{i, false, 0});
    CHECK_FALSE(o.newly_blocked);
  }
  const FailureOutcome o = Failure(*s, kUser, 3, kParams, kNow + 4);
  CHECK(o.newly_blocked);
  CHECK(o.state == SubjectState{4, true, kNow + 604});
  // Frozen while blocked: not counted, block not extended.
  const FailureOutcome again = Failure(*s, kUser, 3, kParams, kNow + 100);
  CHECK_FALSE(again.newly_blocked);
  CHECK(again.state == SubjectState{4, true, kNow + 604});
  CHECK(State(*s, kUser, kNow + 603).blocked);
  CHECK(State(*s, kUser, kNow + 604) == SubjectState{});
  CHECK(Failure(*s, kUser, 3, kParams, kNow + 605).state ==
        SubjectState{1, false, 0});
}

TEST_CASE("RedisStore: the attempt window slides from the latest failure") {
  RedisFactory f;
  auto s = f.Make();
  Failure(*s, kUser, 5, kParams, kNow);
  Failure(*s, kUser, 5, kParams, kNow + 299);
  CHECK(State(*s, kUser, kNow + 598).failures == 2);
  CHECK(State(*s, kUser, kNow + 599).failures == 0);
  CHECK(Failure(*s, kUser, 5, kParams, kNow + 600).state.failures == 1);
  // The key's own life in Redis is the same 300 s after the latest failure.
  const int64_t ttl = std::stoll(
      Server().Cmd({"TTL", RedisStore(nullptr, {}).RecordKey(kUser)}));
  CHECK(ttl <= 300);
  CHECK(ttl >= 298);

  LockoutParams forever = kParams;
  forever.attempt_ttl = 0;
  Failure(*s, kHost, 5, forever, kNow);
  CHECK(State(*s, kHost, kNow + 10 * 365 * 86400).failures == 1);
  CHECK(Server().Cmd({"TTL", RedisStore(nullptr, {}).RecordKey(kHost)}) ==
        "-1");
}

TEST_CASE("RedisStore: progressive lockouts, 0 = permanent, history window") {
  RedisFactory f;
  auto s = f.Make();
  LockoutParams prog = kParams;
  prog.lockout_lengths = {60, 300, 0};
  CHECK(Failure(*s, kUser, 0, prog, kNow).state ==
        SubjectState{1, true, kNow + 60});
  CHECK(Failure(*s, kUser, 0, prog, kNow + 60).state ==
        SubjectState{1, true, kNow + 360});
  const SubjectState third = Failure(*s, kUser, 0, prog, kNow + 360).state;
  CHECK(third.permanent());
  CHECK(State(*s, kUser, kNow + 1000 * 86400).permanent());
  CHECK(Server().Cmd({"TTL", RedisStore(nullptr, {}).RecordKey(kUser)}) ==
        "-1");

  // The last length repeats; blocks older than the window do not count.
  prog.lockout_lengths = {60, 300};
  prog.history_seconds = 3600;
  Failure(*s, kHost, 0, prog, kNow);
  Failure(*s, kHost, 0, prog, kNow + 60);
  CHECK(Failure(*s, kHost, 0, prog, kNow + 360).state.until == kNow + 660);
  CHECK(Failure(*s, kHost, 0, prog, kNow + 3 * 3600).state.until ==
        kNow + 3 * 3600 + 60);
}

TEST_CASE("RedisStore: success, refusal rules, unblock keeps history") {
  RedisFactory f;
  auto s = f.Make();
  std::string err;
  const Subject both[] = {kUser, kHost};
  std::vector<SubjectState> before;
  bool refused = false;

  SUBCASE("kAny: refused when one is blocked, nothing changes") {
    Failure(*s, kHost, 0, kParams, kNow);
    Failure(*s, kUser, 3, kParams, kNow);
    const bool reset[] = {true, true};
    REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kAny, 0, kNow + 1,
                             &before, &refused, &err));
    CHECK(refused);
    CHECK(before[0] == SubjectState{1, false, 0});
    CHECK(before[1] == SubjectState{1, true, kNow + 600});
    CHECK(State(*s, kUser, kNow + 1).failures == 1);
  }
  SUBCASE("reset only the flagged subjects") {
    Failure(*s, kUser, 3, kParams, kNow);
    Failure(*s, kHost, 3, kParams, kNow);
    const bool reset[] = {true, false};
    REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kAny, 0, kNow + 1,
                             &before, &refused, &err));
    CHECK_FALSE(refused);
    CHECK(State(*s, kUser, kNow + 1) == SubjectState{});
    CHECK(State(*s, kHost, kNow + 1).failures == 1);
  }
  SUBCASE("kAll and kNever") {
    Failure(*s, kUser, 0, kParams, kNow);
    const bool reset[] = {true, false};
    REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kAll, 0, kNow + 1,
                             &before, &refused, &err));
    CHECK_FALSE(refused);
    CHECK(before[0].blocked);
    CHECK(State(*s, kUser, kNow + 1) == SubjectState{});
    Failure(*s, kUser, 0, kParams, kNow + 2);
    Failure(*s, kHost, 0, kParams, kNow + 2);
    REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kAll, 0, kNow + 3,
                             &before, &refused, &err));
    CHECK(refused);
    REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kNever, 0, kNow + 3,
                             &before, &refused, &err));
    CHECK_FALSE(refused);
    CHECK(State(*s, kUser, kNow + 3) == SubjectState{});
    CHECK(State(*s, kHost, kNow + 3).blocked);
  }
  SUBCASE("unblock and success keep the history") {
    LockoutParams prog = kParams;
    prog.lockout_lengths = {60, 300};
    Failure(*s, kUser, 0, prog, kNow);
    bool was = false;
    REQUIRE(s->Unblock(kUser, kNow + 1, &was, &err));
    CHECK(was);
    REQUIRE(s->Unblock(kUser, kNow + 2, &was, &err));
    CHECK_FALSE(was);
    CHECK(Failure(*s, kUser, 0, prog, kNow + 3).state.until == kNow + 303);
  }
}

TEST_CASE(
    "RedisStore: manual block, list via SCAN, stats, unblock all, prune") {
  RedisFactory f;
  auto s = f.Make();
  std::string err;
  const Subject bob{SubjectKind::kUser, "bob"};
  Failure(*s, kUser, 3, kParams, kNow);
  REQUIRE(s->Block(kUser, kNow + 50, kNow, &err));
  CHECK(State(*s, kUser, kNow + 1) == SubjectState{1, true, kNow + 50});
  CHECK(State(*s, kUser, kNow + 50) == SubjectState{});
  REQUIRE(s->Block(kUser, kNow + 5000, kNow, &err));
  Failure(*s, bob, 3, kParams, kNow);
  REQUIRE(s->Block(kHost, 0, kNow, &err));

  std::vector<StoreEntry> all, blocked;
  REQUIRE(s->List(kNow + 1, false, &all, &err));
  REQUIRE(s->List(kNow + 1, true, &blocked, &err));
  REQUIRE(all.size() == 3);
  CHECK(all[0].subject == kUser);
  CHECK(all[0].state == SubjectState{1, true, kNow + 5000});
  CHECK(all[1].subject == bob);
  CHECK(all[1].state == SubjectState{1, false, 0});
  CHECK(all[2].subject == kHost);
  CHECK(all[2].state.permanent());
  REQUIRE(blocked.size() == 2);

  StoreStats st;
  REQUIRE(s->Stats(kNow + 1, 86400, &st, &err));
  CheckStats(st, {1, 1, 1, 1, 0, 2, 3});

  std::vector<Subject> cleared;
  REQUIRE(s->UnblockAll(kNow + 1, &cleared, &err));
  REQUIRE(cleared.size() == 2);
  CHECK(cleared[0] == kUser);
  CHECK(cleared[1] == kHost);
  REQUIRE(s->List(kNow + 1, false, &all, &err));
  REQUIRE(all.size() == 1);
  CHECK(all[0].subject == bob);

  int64_t removed = -1;
  REQUIRE(s->Prune(kNow + 2 * 86400, 86400, &removed, &err));
  CHECK(removed == 4);  // bob's expired counter and three history entries.
  REQUIRE(s->Stats(kNow + 2 * 86400, 86400, &st, &err));
  CHECK(st.failures == 0);
  CHECK(st.blocked_users + st.blocked_hosts + st.failing_users == 0);
  CHECK(st.blocks_in_window == 0);
}

TEST_CASE("RedisStore: listing walks many keys in SCAN batches") {
  RedisFactory f;
  auto s = f.Make();
  std::string err;
  for (int i = 0; i < 1200; ++i) {
    REQUIRE(s->Block(Subject{SubjectKind::kHost, "10.0.0." + std::to_string(i)},
                     0, kNow, &err));
  }
  std::vector<StoreEntry> all;
  REQUIRE(s->List(kNow, true, &all, &err));
  CHECK(all.size() == 1200);
  const auto stats = Server().CommandStats();
  for (const auto& [name, calls] : stats) CHECK(name != "keys");
}

TEST_CASE("RedisStore: odd names stay inside their key and hash tag") {
  RedisFactory f;
  auto s = f.Make();
  std::string err;
  const std::vector<std::string> names = {
      "}:s", "{user:bob}", "a b", "x%41",   std::string("nul\0byte", 8),
      "*",   "\xff\xfe",   "bob", "ümlaut", std::string(256, 'z')};
  for (const std::string& n : names) {
    REQUIRE(s->Block(Subject{SubjectKind::kUser, n}, 0, kNow, &err));
  }
  std::vector<StoreEntry> all;
  REQUIRE(s->List(kNow, false, &all, &err));
  REQUIRE(all.size() == names.size());
  for (const std::string& n : names) {
    const Subject who{SubjectKind::kUser, n};
    CHECK(State(*s, who, kNow).permanent());
    const std::string key = RedisStore(nullptr, {}).RecordKey(who);
    // Exactly one hash tag: the first '{' and the first '}' after it.
    const size_t open = key.find('{');
    CHECK(key.find('{', open + 1) == std::string::npos);
    CHECK(key.find('}') == key.size() - 3);
  }
  // "bob" was not touched by "{user:bob}".
  bool was = false;
  REQUIRE(
      s->Unblock(Subject{SubjectKind::kUser, "{user:bob}"}, kNow, &was, &err));
  CHECK(State(*s, Subject{SubjectKind::kUser, "bob"}, kNow).permanent());
}

TEST_CASE("RedisStore: each step is exactly one EVALSHA") {
  RedisFactory f;
  auto s = f.Make();
  std::string err;
  const Subject both[] = {kUser, kHost};
  const FailureRequest reqs[] = {{kUser, 3}, {kHost, 3}};
  std::vector<SubjectState> states;
  std::vector<FailureOutcome> outcomes;
  REQUIRE(s->Get(both, kNow, &states, &err));  // Loads the script.
  Server().Cmd({"CONFIG", "RESETSTAT"});
  REQUIRE(s->Get(both, kNow, &states, &err));
  CHECK(ClientCommands(Server()) == "evalsha=1");
  bool failure_refused = false;
  REQUIRE(s->RecordFailure(reqs, RefusalRule::kAny, FailureMode::kCount,
                           kParams, kNow, &outcomes, &failure_refused, &err));
  CHECK(ClientCommands(Server()) == "evalsha=2");
  const bool reset[] = {true, true};
  bool refused = false;
  REQUIRE(s->RecordSuccess(both, reset, {}, RefusalRule::kAny, 0, kNow, &states,
                           &refused, &err));
  CHECK(ClientCommands(Server()) == "evalsha=3");
}

TEST_CASE("RedisStore: NOSCRIPT loads the script once, then EVALSHA") {
  RedisFactory f;
  auto s = f.Make();
  std::string err;
  Server().Cmd({"SCRIPT", "FLUSH"});
  Server().Cmd({"CONFIG", "RESETSTAT"});
  std::vector<SubjectState> states;
  REQUIRE(s->Get({&kUser, 1}, kNow, &states, &err));
  REQUIRE(s->Get({&kUser, 1}, kNow, &states, &err));
  const auto stats = Server().CommandStats();
  std::map<std::string, int64_t> m(stats.begin(), stats.end());
  CHECK(m["eval"] == 1);
  CHECK(m["evalsha"] == 2);  // The first one answered NOSCRIPT.
}

TEST_CASE("RedisStore: block and unblock are published as JSON") {
  RedisFactory f;
  auto s = f.Make();
  redisContext* sub = redisConnect("127.0.0.1", Server().port());
  REQUIRE((sub && !sub->err));
  redisSetTimeout(sub, {5, 0});
  freeReplyObject(redisCommand(sub, "SUBSCRIBE defender:events"));
  std::string err;
  LockoutParams p = kParams;
  Failure(*s, kUser, 0, p, kNow);
  const Subject reset_who[] = {kUser};
  const bool reset[] = {true};
  std::vector<SubjectState> before;
  bool refused = false;
  REQUIRE(s->RecordSuccess(reset_who, reset, {}, RefusalRule::kNever, 0,
                           kNow + 1, &before, &refused, &err));
  std::vector<std::string> messages;
  for (int i = 0; i < 2; ++i) {
    void* reply = nullptr;
    REQUIRE(redisGetReply(sub, &reply) == REDIS_OK);
    auto* r = static_cast<redisReply*>(reply);
    REQUIRE(r->type == REDIS_REPLY_ARRAY);
    REQUIRE(r->elements == 3);
    messages.emplace_back(r->element[2]->str, r->element[2]->len);
    freeReplyObject(r);
  }
  redisFree(sub);
  const std::string until = "\"until\":" + std::to_string(kNow + 600);
  CHECK(messages[0].find("\"event\":\"block\"") != std::string::npos);
  CHECK(messages[0].find("\"kind\":\"user\"") != std::string::npos);
  CHECK(messages[0].find("\"subject\":\"alice\"") != std::string::npos);
  CHECK(messages[0].find(until) != std::string::npos);
  CHECK(messages[0].find("\"host\":\"web-1\"") != std::string::npos);
  CHECK(messages[0].find("\"service\":\"sshd\"") != std::string::npos);
  CHECK(messages[1].find("\"event\":\"unblock\"") != std::string::npos);
  CHECK(messages[1].find("\"until\":0") != std::string::npos);
}

// Issue 10 finding 9: the script decided with the client's clock (ARGV[2]),
// so a host whose clock ran an hour ahead took every block as expired. The
// Redis server's clock (TIME, read in the script) now decides for the whole
// fleet; the `now` a host passes only turns the untils it gets back into its
// own clock, so Remaining(now) is right on that host.
TEST_CASE("RedisStore: the server's clock decides, not a skewed host's") {
  RedisFactory f;
  f.Make();  // Flushes the database.
  RedisSettings settings;
  settings.url = Server().url();
  RedisConnection c1(settings), c2(settings);
  RedisStoreOptions o;
  o.server_clock = true;
  RedisStore web1(&c1, o), web2(&c2, o);
  const auto server_time = [] {
    return std::stoll(Server().Cmd({"TIME"}).substr(0, 10));
  };
  const auto stored_until = [&](const Subject& who) {
    return std::stoll(Server().Cmd({"HGET", web1.RecordKey(who), "e"}));
  };
  const int64_t real = SystemClock().Now();
  const int64_t ahead = real + 3600;
  std::string err;

  // web1 (right clock) blocks alice for 600 s: the record ends 600 s after
  // the server's now.
  int64_t before = server_time();
  REQUIRE_MESSAGE(web1.Block(kUser, real + 600, real, &err), err);
  int64_t after = server_time();
  CHECK(stored_until(kUser) >= before + 600);
  CHECK(stored_until(kUser) <= after + 600);

  // web2, an hour ahead, still sees the block, with 600 s left by its clock.
  SubjectState st = State(web2, kUser, ahead);
  CHECK(st.blocked);
  CHECK(st.Remaining(ahead) >= 599);
  CHECK(st.Remaining(ahead) <= 600);
  std::vector<StoreEntry> entries;
  REQUIRE_MESSAGE(web2.List(ahead, true, &entries, &err), err);
  REQUIRE(entries.size() == 1);
  CHECK(entries[0].state.Remaining(ahead) >= 599);
  CHECK(entries[0].state.Remaining(ahead) <= 600);

  // A block that web2 makes (defenderctl block --for 15m, or failures) ends
  // by the server's clock too, and comes back in web2's clock.
  before = server_time();
  REQUIRE_MESSAGE(web2.Block(kHost, ahead + 900, ahead, &err), err);
  after = server_time();
  CHECK(stored_until(kHost) >= before + 900);
  CHECK(stored_until(kHost) <= after + 900);
  const Subject bob{SubjectKind::kUser, "bob"};
  before = server_time();
  const FailureOutcome out = Failure(web2, bob, 0, kParams, ahead);
  after = server_time();
  CHECK(out.newly_blocked);
  CHECK(out.state.Remaining(ahead) >= 599);
  CHECK(out.state.Remaining(ahead) <= 600);
  CHECK(stored_until(bob) >= before + 600);
  CHECK(stored_until(bob) <= after + 600);
  // ...and web1, on the right clock, sees it blocked for those 600 s.
  st = State(web1, bob, real);
  CHECK(st.blocked);
  CHECK(st.Remaining(real) >= 599);
  CHECK(st.Remaining(real) <= 600);
}

}  // namespace defender::testing
