// Issue 10 finding 2 on the Redis store (doc/DESIGN.md §3.15): logins
// held at the password prompt on one host of a fleet conclude alike, right
// or wrong password, once another host's logins have blocked the user.
#include <doctest/doctest.h>
#include <security/pam_appl.h>

#include <memory>
#include <string>
#include <vector>

#include "common/redis_store.h"
#include "tests/redis/fleet.h"
#include "tests/support/held_login.h"
#include "tests/support/redis_server.h"

namespace defender::testing {

TEST_CASE(
    "held logins on a fleet: after a block, right and wrong answers "
    "look the same") {
  RedisServer redis;
  const std::string toml = "url = \"" + redis.url() +
                           "/0\"\nconnect_timeout_ms = 500\n"
                           "command_timeout_ms = 500\non_error = \"closed\"\n";
  const FleetHost web1("web1", toml);
  const FleetHost web2("web2", toml);
  SetNow(1'800'000'000);

  std::vector<std::unique_ptr<HeldLogin>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<HeldLogin>([&](PamConversation* talk) {
      return web2.Start("alice", talk, "192.0.2.50");
    }));
    REQUIRE(held.back()->at_prompt());
  }
  // The attacker blocks alice through web1.
  for (int i = 0; i < 4; ++i) {
    CHECK(web1.Login("alice", "wrong", "198.51.100.1").auth == PAM_AUTH_ERR);
  }
  const HeldLogin::Result right = held[0]->Answer(kPassword);
  const HeldLogin::Result wrong = held[1]->Answer("wrong");
  CHECK(right.rc == PAM_AUTH_ERR);
  REQUIRE(right.messages.size() == 1);
  CHECK(right.messages[0].rfind("Account locked:", 0) == 0);
  CHECK(wrong == right);
  CHECK(held[2]->Answer("wrong") == right);
  CHECK(held[3]->Answer(kPassword) == right);
}

// A login's connection is kept from preauth to authfail, across the
// password prompt. An attacker who answers after the server has closed it
// (its idle `timeout`, a restart) must still be counted: the step opens a
// new connection instead of failing to on_error ("open": allowed,
// uncounted).
TEST_CASE("a connection closed while the login waited at the prompt") {
  RedisServer redis;
  const std::string toml = "url = \"" + redis.url() +
                           "/0\"\nconnect_timeout_ms = 500\n"
                           "command_timeout_ms = 500\non_error = \"open\"\n";
  const FleetHost web("web", toml);
  SetNow(1'800'000'000);
  HeldLogin held([&](PamConversation* talk) {
    return web.Start("alice", talk, "192.0.2.50");
  });
  REQUIRE(held.at_prompt());
  CHECK(redis.Cmd({"CLIENT", "KILL", "TYPE", "normal"}) != "0");
  CHECK(held.Answer("wrong").rc == PAM_AUTH_ERR);
  const RedisStore view(nullptr, {});
  CHECK(redis.Cmd({"HGET", view.RecordKey({SubjectKind::kUser, "alice"}),
                   "f"}) == "1");
  CHECK(redis.Cmd({"HGET", view.RecordKey({SubjectKind::kHost, "192.0.2.50"}),
                   "f"}) == "1");
}

}  // namespace defender::testing
