#include "common/policy.h"

#include <doctest/doctest.h>

#include "tests/support/fake_clock.h"
#include "tests/support/memory_attempt_log.h"
#include "tests/support/memory_store.h"

namespace defender {
namespace {

// The default config with by_user_and_host on.
Config ByUserAndHost() {
  Config cfg;
  cfg.by_user_and_host = true;
  return cfg;
}

// A policy over a MemoryStore, a MemoryAttemptLog and a FakeClock, with
// helpers that play one login attempt the way the module's stack does:
// preauth, then the password check, then authfail or authsucc.
class Harness {
 public:
  explicit Harness(Config cfg = Config()) : cfg_(std::move(cfg)) {}

  enum Result { kRefused, kFailed, kSucceeded };

  Result Login(const std::string& user, const std::string& rhost,
               bool right_password) {
    if (!Preauth(user, rhost)) return kRefused;
    return Conclude(user, rhost, right_password);
  }

  // The steps of Login one by one: preauth (false when refused), then the
  // end of an attempt that passed it. Attempts held open conclude in the
  // reverse order of their preauths (Login's own at once).
  bool Preauth(const std::string& user, const std::string& rhost) {
    const defender::Login info =
        NormalizeLogin({"sshd", user, rhost, "ssh"}, cfg_);
    std::string err;
    Decision d;
    REQUIRE_MESSAGE(secure_ ? policy_.CountProvisionally(info, true, &d, &err)
                            : policy_.Check(info, true, &d, &err),
                    err);
    // What the module keeps in the attempt's PAM handle.
    if (!d.refused) held_.push_back(d.counted);
    last_ = d;
    return !d.refused;
  }
  Result Conclude(const std::string& user, const std::string& rhost,
                  bool right_password) {
    const defender::Login info =
        NormalizeLogin({"sshd", user, rhost, "ssh"}, cfg_);
    std::string err;
    Decision d;
    REQUIRE_FALSE(held_.empty());
    const std::vector<ProvisionalCount> counted = std::move(held_.back());
    held_.pop_back();
    if (!right_password) {
      REQUIRE_MESSAGE(secure_ ? policy_.Conclude(info, true, counted, &d, &err)
                              : policy_.AuthFail(info, true, &d, &err),
                      err);
      last_ = d;
      return d.refused ? kRefused : kFailed;
    }
    REQUIRE_MESSAGE(secure_ ? policy_.AuthSucc(info, true, counted, &d, &err)
                            : policy_.AuthSucc(info, true, &d, &err),
                    err);
    last_ = d;
    return d.refused ? kRefused : kSucceeded;
  }

  // Plays the steps as the module does under a setuid caller (module.h):
  // preauth counts provisionally, authfail concludes.
  void set_secure(bool secure) { secure_ = secure; }

  SubjectState State(SubjectKind kind, const std::string& name) {
    std::vector<SubjectState> out;
    std::string err;
    const Subject s{kind, name};
    REQUIRE(store_.Get({&s, 1}, clock_.Now(), &out, &err));
    return out[0];
  }
  SubjectState User(const std::string& n) {
    return State(SubjectKind::kUser, n);
  }
  SubjectState Host(const std::string& n) {
    return State(SubjectKind::kHost, n);
  }

  Config& cfg() { return cfg_; }
  FakeClock& clock() { return clock_; }
  MemoryStore& store() { return store_; }
  MemoryAttemptLog& log() { return log_; }
  Policy& policy() { return policy_; }
  const Decision& last() const { return last_; }
  // The attempt whose preauth came last is killed: it never concludes.
  void Forget() {
    REQUIRE_FALSE(held_.empty());
    held_.pop_back();
  }

 private:
  Config cfg_;
  FakeClock clock_{1'700'000'000};
  MemoryStore store_;
  MemoryAttemptLog log_;
  Policy policy_{cfg_, &store_, &log_, clock_};
  Decision last_;
  bool secure_ = false;
  // Per attempt past preauth, not concluded yet: what its preauth counted.
  std::vector<std::vector<ProvisionalCount>> held_;
};

using R = Harness::Result;

TEST_CASE(
    "failures up to the limit are plain; a right password then succeeds and "
    "resets") {
  Harness h;
  for (int i = 0; i < 3; ++i)
    CHECK(h.Login("alice", "192.0.2.1", false) == R::kFailed);
  CHECK(h.User("alice").failures == 3);
  CHECK(h.Host("192.0.2.1").failures == 3);
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kSucceeded);
  CHECK(h.User("alice") == SubjectState{});
  CHECK(h.Host("192.0.2.1") == SubjectState{});
}

TEST_CASE(
    "the failure above the limit blocks; then even the right password is "
    "refused and not counted") {
  Harness h;
  for (int i = 0; i < 3; ++i) {
    CHECK(h.Login("alice", "192.0.2.1", false) == R::kFailed);
  }
  // The blocking failure is counted and answered as a refusal (item 15).
  CHECK(h.Login("alice", "192.0.2.1", false) == R::kRefused);
  CHECK(h.last().reason == "user alice is blocked for 5m 0s");
  REQUIRE(h.last().events.size() == 2);
  CHECK(h.last().events[0].type == Event::Type::kBlock);
  CHECK(h.last().events[0].subject == Subject{SubjectKind::kUser, "alice"});
  CHECK(h.last().events[0].until == h.clock().Now() + 300);
  CHECK(h.last().events[0].failures == 4);
  CHECK(h.last().events[1].subject == Subject{SubjectKind::kHost, "192.0.2.1"});
  CHECK(h.User("alice") == SubjectState{4, true, h.clock().Now() + 300});

  h.clock().Advance(10);
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);
  CHECK(h.last().remaining_seconds == 290);
  CHECK(h.last().failure_limit == 3);
  CHECK_FALSE(h.last().permanent);
  CHECK(h.last().reason == "user alice is blocked for 4m 50s");
  CHECK(h.Login("alice", "192.0.2.1", false) == R::kRefused);
  CHECK(h.User("alice").failures == 4);  // Refused attempts are not counted.

  // The attempt log: 4 failures, then 2 refusals.
  REQUIRE(h.log().rows.size() == 6);
  CHECK(h.log().rows[3].result == "failure");
  CHECK(h.log().rows[4].result == "refused");
  CHECK(h.log().rows[5].result == "refused");
  CHECK(h.log().rows[5].user == "alice");
  CHECK(h.log().rows[5].host == "192.0.2.1");
  CHECK(h.log().rows[5].service == "sshd");
  CHECK(h.log().rows[5].tty == "ssh");

  h.clock().Advance(290);  // The block is over: a fresh start.
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kSucceeded);
}

// The reason is a sentence in a log line: a name with a blank must not read
// as more of it ("user bob from 198.51.100.9 is blocked").
TEST_CASE("a reason writes the blanks of a name as %20") {
  Harness h;
  for (int i = 0; i < 3; ++i) {
    CHECK(h.Login("bob from 198.51.100.9", "192.0.2.1", false) == R::kFailed);
  }
  CHECK(h.Login("bob from 198.51.100.9", "192.0.2.1", false) == R::kRefused);
  CHECK(h.last().reason ==
        "user bob%20from%20198.51.100.9 is blocked for 5m 0s");
  // The subject itself keeps its blanks (JSON, the store).
  REQUIRE(h.last().refused_by.has_value());
  CHECK(h.last().refused_by->name == "bob from 198.51.100.9");
}

TEST_CASE("failures are forgotten attempt_cooloff_time after the latest one") {
  Harness h;
  h.cfg().cooloff_time = 300;
  h.Login("alice", "", false);
  h.clock().Advance(200);
  h.Login("alice", "", false);
  h.clock().Advance(200);  // 400 s after the first, 200 after the second.
  CHECK(h.User("alice").failures == 2);
  h.clock().Advance(100);
  CHECK(h.User("alice").failures == 0);
}

TEST_CASE("sprayed user names block the host") {
  Harness h;
  for (int i = 0; i < 3; ++i) {
    CHECK(h.Login("user" + std::to_string(i), "198.51.100.9", false) ==
          R::kFailed);
  }
  CHECK(h.Login("user3", "198.51.100.9", false) == R::kRefused);
  CHECK(h.Host("198.51.100.9").blocked);
  CHECK_FALSE(h.User("user3").blocked);
  CHECK(h.Login("alice", "198.51.100.9", true) == R::kRefused);
  CHECK(h.last().refused_by == Subject{SubjectKind::kHost, "198.51.100.9"});
  CHECK(h.Login("alice", "198.51.100.10", true) == R::kSucceeded);
}

TEST_CASE("a user attacked from many hosts is blocked everywhere") {
  Harness h;
  for (int i = 0; i < 4; ++i) {
    h.Login("alice", "203.0.113." + std::to_string(i), false);
  }
  CHECK(h.User("alice").blocked);
  CHECK(h.Login("alice", "203.0.113.200", true) == R::kRefused);
  CHECK(h.Login("alice", "", true) == R::kRefused);  // Local login too.
  CHECK(h.Login("bob", "203.0.113.200", true) == R::kSucceeded);
}

TEST_CASE("separate limits for user and host") {
  Config cfg;
  cfg.failure_limit_user = 1;
  cfg.failure_limit_host = 5;
  Harness h(cfg);
  h.Login("alice", "192.0.2.1", false);
  h.Login("alice", "192.0.2.1", false);
  CHECK(h.User("alice").blocked);
  CHECK(h.Host("192.0.2.1") == SubjectState{2, false, 0});
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);
  CHECK(h.last().failure_limit == 1);
}

TEST_CASE("by_user_and_host refuses only when both are blocked") {
  Harness h(ByUserAndHost());
  for (int i = 0; i < 4; ++i) h.Login("alice", "192.0.2.1", false);
  CHECK(h.User("alice").blocked);
  CHECK(h.Host("192.0.2.1").blocked);
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);
  // The same user from another host, and another user from the same host.
  CHECK(h.Login("alice", "192.0.2.2", true) == R::kSucceeded);
  // ...and that success cleared the user's block, but not the host's.
  REQUIRE(h.last().events.size() == 1);
  CHECK(h.last().events[0].type == Event::Type::kUnblock);
  CHECK(h.last().events[0].subject == Subject{SubjectKind::kUser, "alice"});
  CHECK_FALSE(h.User("alice").blocked);
  CHECK(h.Login("bob", "192.0.2.1", true) == R::kSucceeded);
  CHECK(h.Host("192.0.2.1").blocked);
}

TEST_CASE("by_user_and_host: a success resets only the user's counter") {
  Harness h(ByUserAndHost());
  h.Login("alice", "192.0.2.1", false);
  h.Login("alice", "192.0.2.1", false);
  h.Login("alice", "192.0.2.1", true);
  CHECK(h.User("alice").failures == 0);
  CHECK(h.Host("192.0.2.1").failures == 2);
}

TEST_CASE("by_user_and_host: a local login is judged by the user alone") {
  Harness h(ByUserAndHost());
  for (int i = 0; i < 4; ++i) h.Login("alice", "", false);
  CHECK(h.Login("alice", "", true) == R::kRefused);
}

TEST_CASE("disable_user_lockout: users are never counted or blocked") {
  Config cfg;
  cfg.disable_user_lockout = true;
  Harness h(cfg);
  for (int i = 0; i < 4; ++i)
    h.Login("alice", "192.0.2." + std::to_string(i), false);
  CHECK(h.User("alice") == SubjectState{});
  CHECK(h.Login("alice", "192.0.2.100", true) == R::kSucceeded);
  for (int i = 0; i < 4; ++i) h.Login("alice", "192.0.2.1", false);
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);  // Host still.
}

TEST_CASE("disable_host_lockout: hosts are never counted or blocked") {
  Config cfg;
  cfg.disable_host_lockout = true;
  Harness h(cfg);
  for (int i = 0; i < 4; ++i)
    h.Login("u" + std::to_string(i), "192.0.2.1", false);
  CHECK(h.Host("192.0.2.1") == SubjectState{});
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kSucceeded);
}

TEST_CASE("root is never blocked by name unless even_deny_root") {
  Harness h;
  for (int i = 0; i < 10; ++i)
    h.Login("root", "192.0.2." + std::to_string(i), false);
  CHECK(h.User("root") == SubjectState{});
  CHECK(h.Login("root", "192.0.2.100", true) == R::kSucceeded);
  // Hosts attacking root are counted and blocked as usual.
  for (int i = 0; i < 4; ++i) h.Login("root", "198.51.100.1", false);
  CHECK(h.Host("198.51.100.1").blocked);
  CHECK(h.Login("root", "198.51.100.1", true) == R::kRefused);

  Config strict;
  strict.even_deny_root = true;
  Harness s(strict);
  for (int i = 0; i < 4; ++i)
    s.Login("root", "192.0.2." + std::to_string(i), false);
  CHECK(s.User("root").blocked);
  CHECK(s.Login("root", "", true) == R::kRefused);
}

TEST_CASE("allow_users and allow_hosts are never counted or blocked") {
  Config cfg;
  cfg.allow_users = {"backup"};
  std::string err;
  cfg.allow_hosts = {*ParseCidr("10.0.0.0/8", &err),
                     *ParseCidr("2001:db8::/32", &err)};
  Harness h(cfg);
  for (int i = 0; i < 5; ++i) h.Login("backup", "192.0.2.1", false);
  CHECK(h.User("backup") == SubjectState{});
  CHECK(h.Host("192.0.2.1").blocked);
  // doc/DESIGN.md §3.7: failures from an allow-listed host count on
  // nothing, not even on their user.
  for (int i = 0; i < 5; ++i) h.Login("carol", "10.1.2.3", false);
  CHECK(h.Host("10.1.2.3") == SubjectState{});
  CHECK(h.User("carol") == SubjectState{});
  // Blocked by guesses from elsewhere, carol is refused elsewhere but never
  // from an allow-listed host, and that success does not unblock her.
  for (int i = 0; i < 4; ++i) h.Login("carol", "192.0.2.7", false);
  CHECK(h.User("carol").blocked);
  CHECK(h.Login("carol", "192.0.2.99", true) == R::kRefused);
  CHECK(h.Login("carol", "10.200.0.1", true) == R::kSucceeded);
  CHECK(h.User("carol").blocked);
  for (int i = 0; i < 5; ++i) h.Login("dave", "2001:db8:5::1", false);
  CHECK(h.Host("2001:db8:5::/64") == SubjectState{});
  CHECK(h.Login("erin", "::ffff:10.9.9.9", true) == R::kSucceeded);
}

TEST_CASE("by_user_and_host with an allowed host is never refused") {
  Config cfg;
  cfg.by_user_and_host = true;
  std::string err;
  cfg.allow_hosts = {*ParseCidr("10.0.0.0/8", &err)};
  Harness h(cfg);
  for (int i = 0; i < 5; ++i) h.Login("alice", "192.0.2.1", false);
  CHECK(h.Login("alice", "10.0.0.1", true) == R::kSucceeded);
}

TEST_CASE("deny_hosts are always refused and never counted") {
  Config cfg;
  std::string err;
  cfg.deny_hosts = {*ParseCidr("198.51.100.0/24", &err)};
  Harness h(cfg);
  CHECK(h.Login("alice", "198.51.100.77", true) == R::kRefused);
  CHECK(h.last().permanent);
  CHECK(h.last().reason == "host 198.51.100.77 is in deny_hosts");
  CHECK(h.User("alice") == SubjectState{});
  REQUIRE(h.log().rows.size() == 1);
  CHECK(h.log().rows[0].result == "refused");
  // A failure from a denied host that skipped preauth is not counted either.
  Decision d;
  const Login info =
      NormalizeLogin({"sshd", "alice", "198.51.100.77", ""}, h.cfg());
  REQUIRE(h.policy().AuthFail(info, true, &d, &err));
  CHECK(d.refused);
  CHECK(h.User("alice") == SubjectState{});
}

TEST_CASE("progressive lockouts lengthen repeated blocks; 0 is permanent") {
  Config cfg;
  cfg.failure_limit = 1;
  cfg.lockout_cooloff_time = std::vector<int64_t>{60, 600, 0};
  cfg.disable_host_lockout = true;
  Harness h(cfg);
  const auto block = [&]() {
    h.Login("alice", "", false);
    h.Login("alice", "", false);
    return h.User("alice");
  };
  CHECK(block().until == h.clock().Now() + 60);
  h.clock().Advance(60);
  CHECK(block().until == h.clock().Now() + 600);
  h.clock().Advance(600);
  CHECK(block().permanent());
  h.clock().Advance(365 * 86400);
  CHECK(h.Login("alice", "", true) == R::kRefused);
  CHECK(h.last().permanent);
}

TEST_CASE("progressive history is forgotten after attempts.expiration_hours") {
  Config cfg;
  cfg.failure_limit = 0;
  cfg.lockout_cooloff_time = std::vector<int64_t>{60, 600};
  cfg.attempts_expiration_hours = 1;
  Harness h(cfg);
  h.Login("alice", "", false);
  CHECK(h.User("alice").until == h.clock().Now() + 60);
  h.clock().Advance(3601);
  h.Login("alice", "", false);
  CHECK(h.User("alice").until == h.clock().Now() + 60);
}

TEST_CASE("user names and hosts are normalised before counting") {
  Config cfg;
  cfg.fold_username_case = true;
  Harness h(cfg);
  h.Login("Alice", "2001:db8:1:2::7", false);
  h.Login(" alice ", "2001:db8:1:2::8", false);
  CHECK(h.User("alice").failures == 2);
  CHECK(h.Host("2001:db8:1:2::/64").failures == 2);
  h.Login("alice", "::ffff:192.0.2.5", false);
  CHECK(h.Host("192.0.2.5").failures == 1);
}

TEST_CASE("an attempt without user or host counts nothing and is allowed") {
  Harness h;
  CHECK(h.Login("", "", false) == R::kFailed);
  std::vector<StoreEntry> all;
  std::string err;
  REQUIRE(h.store().List(h.clock().Now(), false, &all, &err));
  CHECK(all.empty());
}

TEST_CASE("attempts.store = false logs nothing") {
  Config cfg;
  FakeClock clock;
  MemoryStore store;
  Policy p(cfg, &store, nullptr, clock);
  Decision d;
  std::string err;
  REQUIRE(p.AuthFail(NormalizeLogin({"sshd", "alice", "", ""}, cfg), true, &d,
                     &err));
  CHECK(d.logged == nullptr);
}

TEST_CASE("a store error is reported, not thrown") {
  Harness h;
  h.store().set_failing(true);
  Decision d;
  std::string err;
  CHECK_FALSE(h.policy().Check(
      NormalizeLogin({"sshd", "alice", "", ""}, h.cfg()), true, &d, &err));
  CHECK(err == "memory store: injected failure");
  CHECK_FALSE(h.policy().AuthFail(
      NormalizeLogin({"sshd", "alice", "", ""}, h.cfg()), true, &d, &err));
  CHECK_FALSE(h.policy().AuthSucc(
      NormalizeLogin({"sshd", "alice", "", ""}, h.cfg()), true, &d, &err));
  CHECK(h.log().rows.empty());
}

TEST_CASE("by_user_and_host: an exempt user is judged by the host alone") {
  Config cfg;
  cfg.by_user_and_host = true;
  cfg.allow_users = {"backup"};
  Harness h(cfg);
  for (int i = 0; i < 4; ++i) h.Login("root", "192.0.2.1", false);
  CHECK(h.Host("192.0.2.1").blocked);
  CHECK(h.Login("root", "192.0.2.1", true) == R::kRefused);
  CHECK(h.Login("backup", "192.0.2.1", true) == R::kRefused);
  CHECK(h.Login("root", "192.0.2.2", true) == R::kSucceeded);
}

TEST_CASE("by_user_and_host: the refusal lasts until the first block ends") {
  Config cfg;
  cfg.by_user_and_host = true;
  cfg.failure_limit = 0;
  cfg.lockout_cooloff_time = std::vector<int64_t>{600};
  Harness h(cfg);
  h.Login("alice", "192.0.2.1", false);  // Both blocked for 600 s.
  h.clock().Advance(100);
  // A manual permanent block of the host does not make the refusal
  // permanent: it ends with alice's block.
  std::string err;
  REQUIRE(h.store().Block({SubjectKind::kHost, "192.0.2.1"}, 0, h.clock().Now(),
                          &err));
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);
  CHECK_FALSE(h.last().permanent);
  CHECK(h.last().remaining_seconds == 500);
  CHECK(h.last().refused_by == Subject{SubjectKind::kUser, "alice"});
}

TEST_CASE(
    "without by_user_and_host the refusal lasts until the last block ends") {
  Config cfg;
  cfg.failure_limit = 0;
  cfg.failure_limit_host = 1;
  Harness h(cfg);
  h.Login("alice", "192.0.2.1", false);  // User blocked for 300 s.
  h.clock().Advance(100);
  h.Login("bob", "192.0.2.1", false);  // Host blocked for 300 s from here.
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);
  CHECK(h.last().remaining_seconds == 300);
  CHECK(h.last().refused_by == Subject{SubjectKind::kHost, "192.0.2.1"});
}

TEST_CASE("allow_users entries are normalised like user names") {
  Config cfg;
  cfg.fold_username_case = true;
  cfg.allow_users = {" Backup "};
  Harness h(cfg);
  for (int i = 0; i < 5; ++i) h.Login("BACKUP", "", false);
  CHECK(h.User("backup") == SubjectState{});
}

// An attempt log that always fails, as a full disk would make it.
class BrokenLog final : public AttemptLog {
 public:
  bool Append(const Attempt&, std::string* err) override {
    *err = "disk full";
    return false;
  }
};

TEST_CASE("a refusal stands when the attempt cannot be logged") {
  Config cfg;
  cfg.failure_limit = 0;
  FakeClock clock;
  MemoryStore store;
  BrokenLog log;
  Policy p(cfg, &store, &log, clock);
  const Login info = NormalizeLogin({"sshd", "alice", "", ""}, cfg);
  Decision d;
  std::string err;
  REQUIRE(p.AuthFail(info, true, &d, &err));
  CHECK(d.log_error == "disk full");
  CHECK(d.logged == nullptr);
  REQUIRE(p.Check(info, true, &d, &err));
  CHECK(d.refused);
  CHECK(d.log_error == "disk full");
  REQUIRE(p.AuthSucc(info, true, &d, &err));
  CHECK(d.refused);
}

// Issue 10 finding 2: a failure that concludes after its subject was
// blocked (the login passed Check before the block) is refused, not
// counted on the blocked subject, and logged "refused".
TEST_CASE("a failure concluding after the block is refused and not counted") {
  Harness h;
  const Login held =
      NormalizeLogin({"sshd", "alice", "192.0.2.7", "ssh"}, h.cfg());
  Decision d;
  std::string err;
  REQUIRE(h.policy().Check(held, true, &d, &err));
  CHECK_FALSE(d.refused);
  for (int i = 0; i < 4; ++i) h.Login("alice", "198.51.100.1", false);
  REQUIRE(h.User("alice").blocked);
  REQUIRE(h.policy().AuthFail(held, true, &d, &err));
  CHECK(d.refused);
  CHECK(d.refused_by == Subject{SubjectKind::kUser, "alice"});
  CHECK(d.remaining_seconds == 300);
  CHECK(d.events.empty());
  CHECK(h.User("alice").failures == 4);
  CHECK(h.log().rows.back().result == "refused");
  // The same attempt with the right password gets the same decision.
  Decision s;
  REQUIRE(h.policy().AuthSucc(held, true, &s, &err));
  CHECK(s.refused);
  CHECK(s.refused_by == d.refused_by);
  CHECK(s.remaining_seconds == d.remaining_seconds);
  CHECK(s.reason == d.reason);
}

TEST_CASE("by_user_and_host: a failure is refused only when both are blocked") {
  Harness h(ByUserAndHost());
  for (int i = 0; i < 4; ++i) h.Login("alice", "198.51.100.1", false);
  Decision d;
  std::string err;
  // alice is blocked, 192.0.2.7 is not: a plain, counted failure.
  REQUIRE(h.policy().AuthFail(
      NormalizeLogin({"sshd", "alice", "192.0.2.7", ""}, h.cfg()), true, &d,
      &err));
  CHECK_FALSE(d.refused);
  CHECK(h.log().rows.back().result == "failure");
  CHECK(h.Host("192.0.2.7").failures == 1);
}

// Issue 10 finding (killed su): a local user may SIGKILL the setuid su
// between the password check and authfail, so a wrong guess was never
// counted. Under a setuid caller preauth counts the attempt provisionally
// and authfail concludes it.
TEST_CASE("secure: the right password on the 4th attempt still succeeds") {
  Harness h;
  h.set_secure(true);
  for (int i = 1; i <= 3; ++i) {
    CHECK(h.Login("alice", "192.0.2.1", false) == R::kFailed);
    CHECK(h.User("alice") == SubjectState{i, false, 0});
    CHECK(h.last().reason == "failure counted");
    CHECK(h.last().events.empty());
  }
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kSucceeded);
  CHECK(h.User("alice") == SubjectState{});
  CHECK(h.Host("192.0.2.1") == SubjectState{});
  CHECK(h.log().rows.back().result == "success");
}

TEST_CASE("secure: the 4th failure blocks, is counted once and refused") {
  Harness h;
  h.set_secure(true);
  for (int i = 0; i < 3; ++i) h.Login("alice", "192.0.2.1", false);
  REQUIRE(h.Preauth("alice", "192.0.2.1"));
  CHECK(h.last().reason == "allowed, counted provisionally");
  CHECK(h.last().events.empty());
  CHECK(h.User("alice") == SubjectState{4, false, 0});
  CHECK(h.Conclude("alice", "192.0.2.1", false) == R::kRefused);
  const int64_t until = h.clock().Now() + 300;
  CHECK(h.User("alice") == SubjectState{4, true, until});
  CHECK(h.Host("192.0.2.1") == SubjectState{4, true, until});
  REQUIRE(h.last().events.size() == 2);
  CHECK(h.last().events[0].subject == Subject{SubjectKind::kUser, "alice"});
  CHECK(h.last().events[0].failures == 4);
  CHECK(h.last().refused_by == Subject{SubjectKind::kUser, "alice"});
  CHECK(h.log().rows.back().result == "failure");
  // Then refused at preauth: nothing changes, logged "refused".
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);
  CHECK(h.last().events.empty());
  CHECK(h.User("alice") == SubjectState{4, true, until});
  CHECK(h.log().rows.back().result == "refused");
}

TEST_CASE("secure: killed attempts block at the 5th preauth at the latest") {
  Config cfg;
  cfg.lockout_cooloff_time = std::vector<int64_t>{300, 3600};
  Harness h(cfg);
  h.set_secure(true);
  // Each attempt is killed after preauth: never concluded.
  for (int i = 1; i <= 4; ++i) {
    REQUIRE(h.Preauth("alice", "192.0.2.1"));
    CHECK(h.User("alice") == SubjectState{i, false, 0});
  }
  CHECK(h.log().rows.empty());
  // The 5th is refused whatever its password: 4 > 3 attempts were counted.
  CHECK_FALSE(h.Preauth("alice", "192.0.2.1"));
  const int64_t until = h.clock().Now() + 300;
  CHECK(h.User("alice") == SubjectState{4, true, until});
  CHECK(h.Host("192.0.2.1") == SubjectState{4, true, until});
  REQUIRE(h.last().events.size() == 2);
  CHECK(h.last().events[1].type == Event::Type::kBlock);
  CHECK(h.last().events[1].subject == Subject{SubjectKind::kHost, "192.0.2.1"});
  CHECK(h.last().events[1].until == until);
  CHECK(h.last().remaining_seconds == 300);
  REQUIRE(h.log().rows.size() == 1);
  CHECK(h.log().rows.back().result == "refused");
  // A normal block: progressive lengths apply to the next one.
  h.clock().Advance(300);
  for (int i = 0; i < 4; ++i) REQUIRE(h.Preauth("alice", "192.0.2.1"));
  CHECK(h.Login("alice", "192.0.2.1", true) == R::kRefused);
  CHECK(h.User("alice").until == h.clock().Now() + 3600);
}

TEST_CASE("secure: attempts held open count before they conclude") {
  Harness h;
  h.set_secure(true);
  // The cost: four logins held open at once take alice above the limit.
  for (int i = 0; i < 4; ++i) REQUIRE(h.Preauth("alice", "192.0.2.1"));
  CHECK_FALSE(h.User("alice").blocked);
  // The first to fail is the failure above the limit: it blocks.
  CHECK(h.Conclude("alice", "192.0.2.1", false) == R::kRefused);
  CHECK(h.last().events.size() == 2);
  CHECK(h.log().rows.back().result == "failure");
  // The others are refused, counted nothing, whatever their password.
  CHECK(h.Conclude("alice", "192.0.2.1", false) == R::kRefused);
  CHECK(h.last().events.empty());
  CHECK(h.log().rows.back().result == "refused");
  const Decision wrong = h.last();
  CHECK(h.Conclude("alice", "192.0.2.1", true) == R::kRefused);
  CHECK(h.last().reason == wrong.reason);
  CHECK(h.last().remaining_seconds == wrong.remaining_seconds);
  CHECK(h.User("alice").failures == 4);
  // Held logins that conclude with the right password first succeed.
  Harness g;
  g.set_secure(true);
  for (int i = 0; i < 4; ++i) REQUIRE(g.Preauth("bob", ""));
  CHECK(g.Conclude("bob", "", true) == R::kSucceeded);
  CHECK(g.User("bob") == SubjectState{});
}

}  // namespace
}  // namespace defender

namespace defender {
namespace {

// Issue "A repository that explains itself", normalise once: a login's items
// are normalised by NormalizeLogin alone, with one cut length
// (kMaxSubjectBytes) for every item, and the policy logs the Login's fields
// as they are.
TEST_CASE("NormalizeLogin normalises every item once, with one cut length") {
  Config cfg;
  cfg.fold_username_case = true;
  const std::string service = "s\n" + std::string(300, 'x');
  const Login login =
      NormalizeLogin({service, " Alice ", "[2001:DB8::7]", "pts/0\x1b"}, cfg);
  CHECK(login.service == EscapeText(service, kMaxSubjectBytes));
  CHECK(login.service.size() == kMaxSubjectBytes);
  CHECK(login.service.substr(0, 5) == "s%0Ax");
  CHECK(login.tty == "pts/0%1B");
  CHECK(login.user == "alice");
  REQUIRE(login.host);
  CHECK(login.host->subject == "2001:db8::/64");

  const Login none = NormalizeLogin({}, cfg);
  CHECK(none.service.empty());
  CHECK_FALSE(none.user);
  CHECK_FALSE(none.host);

  FakeClock clock;
  MemoryStore store;
  MemoryAttemptLog log;
  Policy p(cfg, &store, &log, clock);
  Decision d;
  std::string err;
  REQUIRE(p.AuthFail(login, true, &d, &err));
  REQUIRE(log.rows.size() == 1);
  CHECK(log.rows[0].service == login.service);
  CHECK(log.rows[0].tty == login.tty);
  CHECK(log.rows[0].user == "alice");
  CHECK(log.rows[0].host == "2001:db8::/64");
}

// A provisional count reset while the password was checked (a success of
// the user elsewhere) must not leave the held guess uncounted.
TEST_CASE("secure: a guess held across a reset is still counted") {
  Harness h;
  h.set_secure(true);
  REQUIRE(h.Preauth("alice", "192.0.2.1"));
  CHECK(h.User("alice").failures == 1);
  CHECK(h.Login("alice", "192.0.2.2", true) == R::kSucceeded);
  CHECK(h.User("alice") == SubjectState{});
  CHECK(h.Conclude("alice", "192.0.2.1", false) == R::kFailed);
  CHECK(h.User("alice").failures == 1);
}

// DESIGN §14 before counter generations: a held guess across a reset and a
// guess killed after it ended as one failure (the conclusion took the
// killed attempt's pending count). Each counts once.
TEST_CASE("secure: a guess held across a reset and a killed one count twice") {
  Harness h;
  h.set_secure(true);
  REQUIRE(h.Preauth("alice", "192.0.2.1"));  // Held at its password.
  CHECK(h.Login("alice", "192.0.2.2", true) == R::kSucceeded);
  CHECK(h.User("alice") == SubjectState{});
  REQUIRE(h.Preauth("alice", "192.0.2.3"));  // Killed: never concluded.
  CHECK(h.User("alice").failures == 1);
  // Conclude the held one: the killed one's is not its count.
  REQUIRE(h.Preauth("alice", "192.0.2.4"));  // Held too, concluded first.
  CHECK(h.User("alice").failures == 2);
  CHECK(h.Conclude("alice", "192.0.2.4", false) == R::kFailed);
  CHECK(h.User("alice").failures == 2);
  h.Forget();  // The killed attempt's handle.
  CHECK(h.Conclude("alice", "192.0.2.1", false) == R::kFailed);
  CHECK(h.User("alice").failures == 3);
}

// by_user_and_host: a success resets the user, not the host, so under a
// setuid caller each right password left its provisional count on the host
// (the 4th blocked it). The success takes its own count back.
TEST_CASE("secure, by_user_and_host: right passwords leave the host alone") {
  Harness h(ByUserAndHost());
  h.set_secure(true);
  for (int i = 0; i < 5; ++i) {
    CHECK(h.Login("alice", "192.0.2.9", true) == R::kSucceeded);
  }
  CHECK(h.Host("192.0.2.9") == SubjectState{});
  CHECK(h.User("alice") == SubjectState{});
  // Failures are counted as before, and a success takes back only its
  // own count: 2 failures, then a success, leave 2.
  CHECK(h.Login("bob", "192.0.2.9", false) == R::kFailed);
  CHECK(h.Login("carol", "192.0.2.9", false) == R::kFailed);
  CHECK(h.Login("alice", "192.0.2.9", true) == R::kSucceeded);
  CHECK(h.Host("192.0.2.9").failures == 2);
}

// The attack that broke a take-back of "one pending count": a success
// whose own count is not on the host's counter (the counter ended while
// its password was checked) must not take a killed guess's count.
TEST_CASE("secure, by_user_and_host: a success takes back no other count") {
  Harness h(ByUserAndHost());
  h.set_secure(true);
  REQUIRE(h.Preauth("mallory", "192.0.2.9"));  // Knows her password.
  CHECK(h.Host("192.0.2.9").failures == 1);
  h.clock().Advance(300);  // The host's counter ends.
  CHECK(h.Host("192.0.2.9") == SubjectState{});
  REQUIRE(h.Preauth("bob", "192.0.2.9"));  // A guess at bob, killed.
  h.Forget();
  CHECK(h.Host("192.0.2.9").failures == 1);
  CHECK(h.Conclude("mallory", "192.0.2.9", true) == R::kSucceeded);
  CHECK(h.Host("192.0.2.9").failures == 1);
}

// The same gap for a subject preauth could not count on because it was
// blocked (by_user_and_host: the host's block alone refuses nothing), whose
// block ended before the conclusion, after another attempt counted on it.
TEST_CASE("secure: a guess not counted on a blocked host is counted after") {
  Harness h(ByUserAndHost());
  h.set_secure(true);
  for (int i = 0; i < 4; ++i)
    h.Login("u" + std::to_string(i), "192.0.2.9", false);
  REQUIRE(h.Host("192.0.2.9").blocked);
  REQUIRE(h.Preauth("alice", "192.0.2.9"));  // Counted on alice only.
  CHECK(h.User("alice").failures == 1);
  CHECK(h.Host("192.0.2.9").failures == 4);
  bool was_blocked = false;
  std::string err;
  REQUIRE(h.store().Unblock({SubjectKind::kHost, "192.0.2.9"}, h.clock().Now(),
                            &was_blocked, &err));
  REQUIRE(was_blocked);
  REQUIRE(h.Preauth("bob", "192.0.2.9"));  // Killed: never concluded.
  h.Forget();
  CHECK(h.Host("192.0.2.9").failures == 1);
  CHECK(h.Conclude("alice", "192.0.2.9", false) == R::kFailed);
  CHECK(h.Host("192.0.2.9").failures == 2);
  CHECK(h.User("alice").failures == 1);
}

}  // namespace
}  // namespace defender

namespace defender {
namespace {

// doc/DESIGN.md §3.14 against the interaction table of pam_defender(8).
TEST_CASE("remembered host: the pair takes the user's place") {
  for (const bool secure : {false, true}) {
    CAPTURE(secure);
    Harness h;
    h.set_secure(secure);
    CHECK(h.Login("alice", "192.0.2.10", true) == R::kSucceeded);
    for (int i = 0; i < 4; ++i) h.Login("alice", "198.51.100.9", false);
    CHECK(h.User("alice").blocked);
    CHECK(h.Login("alice", "192.0.2.10", true) == R::kSucceeded);
    // The kept block is not announced as an unblock.
    CHECK(h.last().events.empty());
    CHECK(h.User("alice").blocked);
    CHECK(h.Login("alice", "192.0.2.77", true) == R::kRefused);
    // From the remembered host the pair blocks at its limit.
    for (int i = 0; i < 3; ++i) {
      CHECK(h.Login("alice", "192.0.2.10", false) == R::kFailed);
    }
    CHECK(h.Login("alice", "192.0.2.10", false) == R::kRefused);
    REQUIRE(h.last().events.size() == 2);  // The host and the pair.
    CHECK(h.last().events[1].subject ==
          Subject{SubjectKind::kPair, "alice@192.0.2.10"});
    CHECK(h.last().refused_by->kind != SubjectKind::kUser);
    CHECK(h.Login("alice", "192.0.2.10", true) == R::kRefused);
  }
}

// The enforce account step of a login no password of the stack
// authenticated (a key, KeyLoginAccount): it remembers the host as a
// success does, and changes no counter; after authsucc logged the login the
// module runs Check, which only checks.
TEST_CASE("remembered host: a key login's account step remembers it") {
  Harness h;
  const auto account = [&](const std::string& user, const std::string& host,
                           bool remember) {
    const Login info = NormalizeLogin({"sshd", user, host, "ssh"}, h.cfg());
    Decision d;
    std::string err;
    std::string not_remembered;
    REQUIRE_MESSAGE(remember ? h.policy().KeyLoginAccount(info, true, &d,
                                                          &not_remembered, &err)
                             : h.policy().Check(info, true, &d, &err),
                    err);
    CHECK(not_remembered.empty());
    return d;
  };
  CHECK_FALSE(account("alice", "192.0.2.10", true).refused);
  CHECK_FALSE(account("alice", "192.0.2.11", false).refused);
  for (int i = 0; i < 4; ++i) h.Login("alice", "198.51.100.9", false);
  CHECK(h.User("alice") == SubjectState{4, true, h.clock().Now() + 300});
  const Decision home = account("alice", "192.0.2.10", true);
  CHECK_FALSE(home.refused);
  CHECK(home.reason ==
        "allowed: user alice is blocked but 192.0.2.10 is a remembered host: "
        "pair alice@192.0.2.10 has 0 failure(s), limit 3");
  // Nothing was remembered without `remember`.
  CHECK(account("alice", "192.0.2.11", true).refused);
  // No counter moved; the only logged attempts are the failures and the
  // refusal.
  CHECK(h.User("alice") == SubjectState{4, true, h.clock().Now() + 300});
  CHECK(h.Host("192.0.2.10") == SubjectState{});
  // Remembered once: later key logins leave its time alone (no write); the
  // first one after it ended remembers the host again.
  const auto remembered = [&] {
    std::vector<RememberedEntry> out;
    std::string err;
    REQUIRE(h.store().ListRemembered(h.clock().Now(), &out, &err));
    return out;
  };
  // 1,700,000,000 + 30 days = 1,702,592,000, rounded up to the hour.
  REQUIRE(h.clock().Now() == 1'700'000'000);
  const int64_t until = 1'702'594'800;
  const int64_t days30 = 30 * 86400;
  CHECK(remembered() ==
        std::vector<RememberedEntry>{{"alice", "192.0.2.10", until}});
  h.clock().Advance(86400);
  CHECK_FALSE(account("alice", "192.0.2.10", true).refused);
  CHECK(remembered() ==
        std::vector<RememberedEntry>{{"alice", "192.0.2.10", until}});
  h.clock().Set(until);
  CHECK_FALSE(account("alice", "192.0.2.10", true).refused);
  CHECK(remembered() == std::vector<RememberedEntry>{
                            {"alice", "192.0.2.10", until + days30 + 3600}});
  REQUIRE(h.log().rows.size() == 5);
  CHECK(h.log().rows[4].result == "refused");
  CHECK(h.log().rows[4].host == "192.0.2.11");
}

// Every password success refreshes its host, until the end of the hour
// remember_hosts_days after it (RememberUntil).
TEST_CASE(
    "remembered host: each success remembers it to the hour its days end") {
  Harness h;
  // The remembered hosts after `user`'s success from 192.0.2.10 at `now`.
  const auto success_at = [&](const std::string& user, int64_t now) {
    h.clock().Set(now);
    CHECK(h.Login(user, "192.0.2.10", true) == R::kSucceeded);
    std::vector<RememberedEntry> out;
    std::string err;
    REQUIRE(h.store().ListRemembered(now, &out, &err));
    return out;
  };
  using List = std::vector<RememberedEntry>;
  // 1,700,000,000 = 472,222 hours and 800 s; + 30 days, to the hour's end.
  CHECK(success_at("alice", 1'700'000'000) ==
        List{{"alice", "192.0.2.10", 1'702'594'800}});
  // 2,799 s later the days end in the same hour: the same time.
  CHECK(success_at("alice", 1'700'002'799) ==
        List{{"alice", "192.0.2.10", 1'702'594'800}});
  // At the start of the next hour, to its end.
  CHECK(success_at("alice", 1'700'002'800) ==
        List{{"alice", "192.0.2.10", 1'702'598'400}});
  CHECK(success_at("alice", 1'800'000'000) ==
        List{{"alice", "192.0.2.10", 1'800'000'000 + 30 * 86400 + 3600}});
  h.cfg().remember_hosts_days = 1;
  CHECK(success_at("bob", 1'800'000'001) ==
        List{{"alice", "192.0.2.10", 1'800'000'000 + 30 * 86400 + 3600},
             {"bob", "192.0.2.10", 1'800'000'000 + 86400 + 3600}});
}

TEST_CASE("remembered host with by_user_and_host: host and pair") {
  Harness h(ByUserAndHost());
  CHECK(h.Login("alice", "192.0.2.10", true) == R::kSucceeded);
  for (int i = 0; i < 4; ++i) h.Login("alice", "192.0.2.10", false);
  // User, host and pair all blocked: refused.
  CHECK(h.Login("alice", "192.0.2.10", true) == R::kRefused);
  CHECK(h.last().refused_by ==
        Subject{SubjectKind::kHost, "192.0.2.10"});  // Ends first (a tie).
  Harness g(ByUserAndHost());
  CHECK(g.Login("alice", "192.0.2.10", true) == R::kSucceeded);
  for (int i = 0; i < 4; ++i) g.Login("alice", "198.51.100.9", false);
  // The user is blocked, the remembered host and the pair are not.
  CHECK(g.Login("alice", "192.0.2.10", true) == R::kSucceeded);
}

TEST_CASE("remembered host: which subjects an attempt has") {
  Config cfg;
  cfg.allow_users = {"bob"};
  std::string err;
  cfg.allow_hosts = {*ParseCidr("10.0.0.0/8", &err)};
  Harness h(cfg);
  const auto subjects = [&](const std::string& user, const std::string& host) {
    const AttemptSubjects who = h.policy().Classify(
        NormalizeLogin({"sshd", user, host, "ssh"}, h.cfg()));
    std::string out;
    for (size_t i = 0; i < who.subjects.size(); ++i) {
      out += std::string(KindName(who.subjects[i].kind)) + ":" +
             who.subjects[i].name + "/" + std::to_string(who.limits[i]) + " ";
    }
    return out;
  };
  CHECK(
      subjects("alice", "2001:db8:1:2::7") ==
      "user:alice/3 host:2001:db8:1:2::/64/3 pair:alice@2001:db8:1:2::/64/3 ");
  CHECK(subjects("alice", "") == "user:alice/3 pair:alice@local/3 ");
  // A local login under a setuid caller (su, sudo) has the local origin's
  // pair only when the one who runs it is the user it authenticates.
  const auto local = [&](bool setuid, bool caller_is_user,
                         const std::string& host = "") {
    RawLoginItems raw{"su", "alice", host, "pts/1", setuid, caller_is_user};
    const AttemptSubjects who =
        h.policy().Classify(NormalizeLogin(raw, h.cfg()));
    std::string out;
    for (const Subject& s : who.subjects) {
      out += std::string(KindName(s.kind)) + ":" + s.name + " ";
    }
    return out;
  };
  CHECK(local(true, true) == "user:alice pair:alice@local ");
  CHECK(local(true, false) == "user:alice ");
  CHECK(local(false, false) == "user:alice pair:alice@local ");
  CHECK(local(true, false, "192.0.2.1") ==
        "user:alice host:192.0.2.1 pair:alice@192.0.2.1 ");
  // A host name that could pass for the local origin has no pair; an '@'
  // is escaped, so its pair splits between user and host.
  CHECK(subjects("alice", "LOCAL") == "user:alice/3 host:local/3 ");
  CHECK(subjects("alice", "x@y") ==
        "user:alice/3 host:x%40y/3 pair:alice@x%40y/3 ");
  CHECK(subjects("root", "192.0.2.1") == "host:192.0.2.1/3 ");
  CHECK(subjects("bob", "192.0.2.1") == "host:192.0.2.1/3 ");
  // allow_hosts: no subject at all, so no pair either (doc/DESIGN.md §3.7).
  CHECK(subjects("alice", "10.1.2.3") == "");
  h.cfg().failure_limit_user = 5;
  CHECK(subjects("alice", "") == "user:alice/5 pair:alice@local/5 ");
  h.cfg().failure_limit_pair = 2;
  h.cfg().disable_host_lockout = true;
  CHECK(subjects("alice", "192.0.2.1") ==
        "user:alice/5 pair:alice@192.0.2.1/2 ");
  h.cfg().disable_user_lockout = true;
  CHECK(subjects("alice", "192.0.2.1") == "");
  h.cfg().disable_user_lockout = false;
  h.cfg().remember_hosts_days = 0;
  CHECK(subjects("alice", "192.0.2.1") == "user:alice/5 ");
}

}  // namespace
}  // namespace defender
