// The Store contract of common/store.h as a test suite that runs against any
// implementation. Use from a doctest TEST_CASE:
//
//   struct MyFactory { std::unique_ptr<Store> Make(); };
//   TEST_CASE("my store follows the contract") {
//     MyFactory f;
//     CheckStoreContract(f);
//   }
//
// Make() must return a store with no records, and may be called many times.
#ifndef PAM_DEFENDER_TESTS_UNIT_STORE_CONTRACT_H_
#define PAM_DEFENDER_TESTS_UNIT_STORE_CONTRACT_H_

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/store.h"
#include "common/store_logic.h"
#include "tests/unit/printers.h"

namespace doctest {
template <>
struct StringMaker<defender::SubjectState> {
  static String convert(const defender::SubjectState& s) {
    return ("{failures " + std::to_string(s.failures) + ", blocked " +
            std::to_string(s.blocked) + ", until " + std::to_string(s.until) +
            ", exempt " + std::to_string(s.exempt) + "}")
        .c_str();
  }
};
}  // namespace doctest

namespace defender::testing {

inline const Subject kAlice{SubjectKind::kUser, "alice"};
inline const Subject kHostA{SubjectKind::kHost, "192.0.2.7"};
inline constexpr int64_t kT0 = 1'700'000'000;

inline FailureOutcome Fail(Store& s, const Subject& who, int64_t limit,
                           const LockoutParams& p, int64_t now,
                           FailureMode mode = FailureMode::kCount,
                           Generation provisional = 0) {
  std::vector<FailureOutcome> out;
  std::string err;
  const FailureRequest req{who, limit, provisional};
  bool refused = false;
  REQUIRE_MESSAGE(s.RecordFailure({&req, 1}, RefusalRule::kAny, mode, p, now,
                                  &out, &refused, &err),
                  err);
  CHECK(refused == (out[0].state.blocked && !out[0].newly_blocked));
  REQUIRE(out.size() == 1);
  return out[0];
}

// kConclude of the attempt whose kProvisional step returned `counted`.
inline FailureOutcome Conclude(Store& s, const Subject& who, int64_t limit,
                               const LockoutParams& p, int64_t now,
                               const FailureOutcome& counted) {
  return Fail(s, who, limit, p, now, FailureMode::kConclude, counted.counted);
}

// Checks every field of `st` against `want` (in StoreStats order: blocked
// users, blocked hosts, permanent blocks, failing users, failing hosts,
// failures, blocks in the window), one CHECK a field.
inline void CheckStats(const StoreStats& st, const StoreStats& want) {
  CHECK(st.blocked_users == want.blocked_users);
  CHECK(st.blocked_hosts == want.blocked_hosts);
  CHECK(st.permanent_blocks == want.permanent_blocks);
  CHECK(st.failing_users == want.failing_users);
  CHECK(st.failing_hosts == want.failing_hosts);
  CHECK(st.failures == want.failures);
  CHECK(st.blocks_in_window == want.blocks_in_window);
  CHECK(st.blocked_pairs == want.blocked_pairs);
  CHECK(st.failing_pairs == want.failing_pairs);
}

inline SubjectState StateAt(Store& s, const Subject& who, int64_t now) {
  std::vector<SubjectState> out;
  std::string err;
  REQUIRE_MESSAGE(s.Get({&who, 1}, now, &out, &err), err);
  REQUIRE(out.size() == 1);
  return out[0];
}

// One attempt by alice from `host` with a pair subject (doc/DESIGN.md
// §3.14): user, host and pair.
struct PairAttempt {
  explicit PairAttempt(const std::string& host)
      : subjects{Subject{SubjectKind::kUser, "alice"},
                 Subject{SubjectKind::kHost, host},
                 Subject{SubjectKind::kPair, "alice@" + host}} {}
  std::vector<Subject> subjects;
  const Subject& pair() const { return subjects[2]; }
};

// A failure of `a` (limits 3 for each subject); returns the outcomes.
inline std::vector<FailureOutcome> FailAttempt(
    Store& s, const PairAttempt& a, const LockoutParams& p, int64_t now,
    bool* refused, RefusalRule rule = RefusalRule::kAny) {
  std::vector<FailureRequest> reqs;
  for (const Subject& who : a.subjects) reqs.push_back({who, 3});
  std::vector<FailureOutcome> out;
  std::string err;
  REQUIRE_MESSAGE(s.RecordFailure(reqs, rule, FailureMode::kCount, p, now, &out,
                                  refused, &err),
                  err);
  REQUIRE(out.size() == reqs.size());
  return out;
}

// A success of `a` remembering its host for `remember` seconds; returns
// whether it was refused.
inline bool SucceedAttempt(Store& s, const PairAttempt& a, int64_t remember,
                           int64_t now, RefusalRule rule = RefusalRule::kAny,
                           std::vector<SubjectState>* before = nullptr) {
  const bool reset[] = {true, true, true};
  std::vector<SubjectState> states;
  bool refused = false;
  std::string err;
  REQUIRE_MESSAGE(s.RecordSuccess(a.subjects, reset, {}, rule, remember, now,
                                  &states, &refused, &err),
                  err);
  if (before != nullptr) *before = states;
  return refused;
}

inline std::vector<SubjectState> GetAttempt(Store& s, const PairAttempt& a,
                                            int64_t now) {
  std::vector<SubjectState> out;
  std::string err;
  REQUIRE_MESSAGE(s.Get(a.subjects, now, &out, &err), err);
  REQUIRE(out.size() == 3);
  return out;
}

inline std::vector<RememberedEntry> Remembered(Store& s, int64_t now) {
  std::vector<RememberedEntry> out;
  std::string err;
  REQUIRE_MESSAGE(s.ListRemembered(now, &out, &err), err);
  return out;
}

// The remembered-hosts part of the contract (common/store.h).
template <typename Factory>
void CheckRememberedContract(Factory& factory) {
  const LockoutParams p{/*attempt_ttl=*/300, /*lockout_lengths=*/{600},
                        /*history_seconds=*/86400};
  const PairAttempt home("192.0.2.10");
  const PairAttempt elsewhere("198.51.100.9");
  constexpr int64_t kDay = 86400;
  // A success at kT0 + x remembers its host to the end of the hour in which
  // kT0 + x + kDay falls (RememberUntil): kT0 + kDay is 800 s into an hour.
  constexpr int64_t kUntil = kT0 + kDay + 2800;
  std::string err;

  SUBCASE("a success remembers its host; the exempt flags follow") {
    auto s = factory.Make();
    std::vector<SubjectState> st = GetAttempt(*s, home, kT0);
    CHECK_FALSE(st[0].exempt);
    CHECK_FALSE(st[1].exempt);
    CHECK(st[2].exempt);  // Not remembered: the pair takes no part.
    std::vector<SubjectState> before;
    CHECK_FALSE(
        SucceedAttempt(*s, home, kDay, kT0, RefusalRule::kAny, &before));
    CHECK(before[2].exempt);
    st = GetAttempt(*s, home, kT0 + 1);
    CHECK(st[0].exempt);  // Remembered: the user takes no part.
    CHECK_FALSE(st[1].exempt);
    CHECK_FALSE(st[2].exempt);
    CHECK(Remembered(*s, kT0 + 1) ==
          std::vector<RememberedEntry>{{"alice", "192.0.2.10", kUntil}});
    // Another host of alice, and another user at the same host, are not.
    CHECK(GetAttempt(*s, elsewhere, kT0 + 1)[2].exempt);
    const Subject bob_pair[] = {Subject{SubjectKind::kUser, "bob"},
                                Subject{SubjectKind::kPair, "bob@192.0.2.10"}};
    std::vector<SubjectState> bob;
    REQUIRE(s->Get(bob_pair, kT0 + 1, &bob, &err));
    CHECK(bob[1].exempt);
    // Expiry: remembered until kUntil exclusive.
    CHECK(GetAttempt(*s, home, kUntil - 1)[0].exempt);
    st = GetAttempt(*s, home, kUntil);
    CHECK_FALSE(st[0].exempt);
    CHECK(st[2].exempt);
    CHECK(Remembered(*s, kUntil).empty());
    // A success with remember 0 remembers nothing.
    const PairAttempt other("192.0.2.11");
    CHECK_FALSE(SucceedAttempt(*s, other, 0, kT0 + 2));
    CHECK(Remembered(*s, kT0 + 2).size() == 1);
  }

  SUBCASE("a blocked user does not refuse from a remembered host") {
    auto s = factory.Make();
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0));
    bool refused = true;
    for (int i = 1; i <= 4; ++i) {
      const auto out = FailAttempt(*s, elsewhere, p, kT0 + i, &refused);
      CHECK_FALSE(refused);
      CHECK(out[2].state == SubjectState{0, false, 0, true});  // Untouched.
    }
    CHECK(StateAt(*s, kAlice, kT0 + 5).blocked);
    // From elsewhere alice is refused; from home she is not.
    FailAttempt(*s, elsewhere, p, kT0 + 5, &refused);
    CHECK(refused);
    auto out = FailAttempt(*s, home, p, kT0 + 6, &refused);
    CHECK_FALSE(refused);
    CHECK(out[0].state.blocked);  // Left as it is...
    CHECK(out[0].state.exempt);
    CHECK(out[1].state.failures == 1);  // ...the host counts...
    CHECK(out[2].state == SubjectState{1, false, 0, false});  // ...the pair.
    // The success from home keeps alice's block, clears the pair.
    std::vector<SubjectState> before;
    CHECK_FALSE(
        SucceedAttempt(*s, home, kDay, kT0 + 7, RefusalRule::kAny, &before));
    CHECK(before[0].blocked);
    CHECK(before[0].exempt);
    CHECK(StateAt(*s, kAlice, kT0 + 7).blocked);
    CHECK(StateAt(*s, home.pair(), kT0 + 7) == SubjectState{});
    CHECK(StateAt(*s, home.subjects[1], kT0 + 7) == SubjectState{});
    CHECK(SucceedAttempt(*s, elsewhere, kDay, kT0 + 8));  // Still refused.
    CHECK(Remembered(*s, kT0 + 8) ==
          std::vector<RememberedEntry>{{"alice", "192.0.2.10", kUntil}});
    // Refreshed by a success whose days end in a later hour.
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0 + 2800));
    CHECK(Remembered(*s, kT0 + 2800) ==
          std::vector<RememberedEntry>{{"alice", "192.0.2.10", kUntil + 3600}});
  }

  SUBCASE("a user that is not blocked is reset by a remembered success") {
    auto s = factory.Make();
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0));
    bool refused = true;
    FailAttempt(*s, home, p, kT0 + 1, &refused);
    CHECK(StateAt(*s, kAlice, kT0 + 1).failures == 1);
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0 + 2));
    CHECK(StateAt(*s, kAlice, kT0 + 2) == SubjectState{});
  }

  SUBCASE("the pair blocks above its limit and then refuses") {
    auto s = factory.Make();
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0));
    bool refused = true;
    for (int i = 1; i <= 3; ++i) FailAttempt(*s, home, p, kT0 + i, &refused);
    auto out = FailAttempt(*s, home, p, kT0 + 4, &refused);
    CHECK_FALSE(refused);  // Counted, then refused by the block it started.
    std::vector<SubjectState> after;
    for (const FailureOutcome& o : out) after.push_back(o.state);
    CHECK(IsRefused(RefusalRule::kAny, after));
    CHECK(out[2].newly_blocked);
    CHECK(out[2].state == SubjectState{4, true, kT0 + 4 + 600, false});
    CHECK(out[0].newly_blocked);  // The user counts too (limit 3).
    CHECK(SucceedAttempt(*s, home, kDay, kT0 + 5));  // Refused by the pair.
    out = FailAttempt(*s, home, p, kT0 + 6, &refused);
    CHECK(refused);
    CHECK(out[1].state.failures == 4);  // Not counted: refused.
  }

  SUBCASE("kAll: a remembered host needs the host and the pair blocked") {
    auto s = factory.Make();
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0, RefusalRule::kAll));
    for (int i = 0; i < 4; ++i) Fail(*s, kAlice, 3, p, kT0 + 1);
    for (int i = 0; i < 4; ++i) Fail(*s, home.subjects[1], 3, p, kT0 + 1);
    bool refused = true;
    FailAttempt(*s, home, p, kT0 + 2, &refused, RefusalRule::kAll);
    CHECK_FALSE(refused);  // User exempt; the pair is not blocked.
    for (int i = 0; i < 4; ++i) Fail(*s, home.pair(), 3, p, kT0 + 3);
    CHECK(SucceedAttempt(*s, home, kDay, kT0 + 4, RefusalRule::kAll));
    // Elsewhere (not remembered) the user decides with its host.
    CHECK_FALSE(
        SucceedAttempt(*s, elsewhere, kDay, kT0 + 4, RefusalRule::kAll));
  }

  SUBCASE("at most 16 hosts per user: the oldest go first") {
    auto s = factory.Make();
    constexpr int64_t kHour = 3600;
    for (int i = 0; i < 17; ++i) {  // An hour apart.
      const PairAttempt a("192.0.2." + std::to_string(100 + i));
      CHECK_FALSE(SucceedAttempt(*s, a, kDay, kT0 + i * kHour));
    }
    const int64_t later = kT0 + 17 * kHour;
    const std::vector<RememberedEntry> list = Remembered(*s, later);
    REQUIRE(list.size() == 16);
    CHECK(list.front() ==
          RememberedEntry{"alice", "192.0.2.101", kUntil + kHour});
    CHECK(list.back() ==
          RememberedEntry{"alice", "192.0.2.116", kUntil + 16 * kHour});
    CHECK(GetAttempt(*s, PairAttempt("192.0.2.100"), later)[2].exempt);
    // Refreshing one that is there evicts nothing.
    CHECK_FALSE(SucceedAttempt(*s, PairAttempt("192.0.2.101"), kDay, later));
    CHECK(Remembered(*s, later).size() == 16);
    // Of equal times (the same hour), the greater host names are kept.
    auto t = factory.Make();
    for (int i = 0; i < 17; ++i) {
      const PairAttempt a("192.0.2." + std::to_string(100 + i));
      CHECK_FALSE(SucceedAttempt(*t, a, kDay, kT0 + i));
    }
    const std::vector<RememberedEntry> tied = Remembered(*t, kT0 + 17);
    REQUIRE(tied.size() == 16);
    CHECK(tied.front() == RememberedEntry{"alice", "192.0.2.101", kUntil});
    CHECK(tied.back() == RememberedEntry{"alice", "192.0.2.116", kUntil});
  }

  SUBCASE("Forget drops one host or all; Prune drops the expired") {
    auto s = factory.Make();
    const PairAttempt second("192.0.2.11");
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0));
    CHECK_FALSE(SucceedAttempt(*s, second, 2 * kDay, kT0));
    int64_t removed = -1;
    REQUIRE(s->Forget("alice", std::string("203.0.113.1"), kT0 + 1, &removed,
                      &err));
    CHECK(removed == 0);
    REQUIRE(
        s->Forget("alice", std::string("192.0.2.10"), kT0 + 1, &removed, &err));
    CHECK(removed == 1);
    CHECK(GetAttempt(*s, home, kT0 + 1)[2].exempt);
    CHECK(Remembered(*s, kT0 + 1) ==
          std::vector<RememberedEntry>{{"alice", "192.0.2.11", kUntil + kDay}});
    REQUIRE(s->Forget("alice", std::nullopt, kT0 + 1, &removed, &err));
    CHECK(removed == 1);
    CHECK(Remembered(*s, kT0 + 1).empty());
    REQUIRE(s->Forget("nobody", std::nullopt, kT0 + 1, &removed, &err));
    CHECK(removed == 0);

    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0 + 2));
    REQUIRE(s->Prune(kT0 + 3, 86400, &removed, &err));
    CHECK(removed == 0);
    REQUIRE(s->Prune(kUntil - 1, 86400, &removed, &err));
    CHECK(removed == 0);
    REQUIRE(s->Prune(kUntil, 86400, &removed, &err));
    CHECK(removed == 1);
    CHECK(Remembered(*s, kT0 + 2).empty());  // Gone, not just expired.
  }

  SUBCASE("pairs are listed, counted and unblocked like any subject") {
    auto s = factory.Make();
    CHECK_FALSE(SucceedAttempt(*s, home, kDay, kT0));
    const PairAttempt local("local");
    CHECK_FALSE(SucceedAttempt(*s, local, kDay, kT0));
    for (int i = 0; i < 4; ++i) Fail(*s, home.pair(), 3, p, kT0 + 1);
    Fail(*s, local.pair(), 3, p, kT0 + 1);
    // A pair that is not remembered is not counted, even alone.
    Fail(*s, Subject{SubjectKind::kPair, "bob@local"}, 3, p, kT0 + 1);
    std::vector<StoreEntry> all;
    REQUIRE(s->List(kT0 + 2, false, &all, &err));
    REQUIRE(all.size() == 2);
    CHECK(all[0].subject == home.pair());
    CHECK(all[0].state.blocked);
    CHECK(all[1].subject == local.pair());
    StoreStats st;
    REQUIRE(s->Stats(kT0 + 2, 86400, &st, &err));
    CHECK(st.blocked_pairs == 1);
    CHECK(st.failing_pairs == 1);
    CHECK(st.blocked_users == 0);
    CHECK(st.failures == 5);
    bool was_blocked = false;
    REQUIRE(s->Unblock(home.pair(), kT0 + 2, &was_blocked, &err));
    CHECK(was_blocked);
    CHECK(StateAt(*s, home.pair(), kT0 + 2) == SubjectState{});
  }
}

template <typename Factory>
void CheckStoreContract(Factory& factory) {
  const LockoutParams p{/*attempt_ttl=*/300, /*lockout_lengths=*/{600},
                        /*history_seconds=*/86400};
  std::string err;

  SUBCASE("unknown subject reads as zero, not blocked") {
    auto s = factory.Make();
    CHECK(StateAt(*s, kAlice, kT0) == SubjectState{});
  }

  SUBCASE("failures up to the limit count, the one above blocks") {
    auto s = factory.Make();
    for (int i = 1; i <= 3; ++i) {
      const FailureOutcome o = Fail(*s, kAlice, 3, p, kT0 + i);
      CHECK(o.state.failures == i);
      CHECK_FALSE(o.state.blocked);
      CHECK_FALSE(o.newly_blocked);
    }
    const FailureOutcome o = Fail(*s, kAlice, 3, p, kT0 + 4);
    CHECK(o.newly_blocked);
    CHECK(o.state == SubjectState{4, true, kT0 + 4 + 600});
    CHECK(StateAt(*s, kAlice, kT0 + 5) == SubjectState{4, true, kT0 + 604});
  }

  SUBCASE("a blocked subject's counter is frozen and the block not extended") {
    auto s = factory.Make();
    for (int i = 0; i < 2; ++i) Fail(*s, kAlice, 1, p, kT0);
    const FailureOutcome o = Fail(*s, kAlice, 1, p, kT0 + 100);
    CHECK_FALSE(o.newly_blocked);
    CHECK(o.state == SubjectState{2, true, kT0 + 600});
  }

  SUBCASE("the block ends on time and the counter starts again from zero") {
    auto s = factory.Make();
    for (int i = 0; i < 2; ++i) Fail(*s, kAlice, 1, p, kT0);
    CHECK(StateAt(*s, kAlice, kT0 + 599).blocked);
    CHECK(StateAt(*s, kAlice, kT0 + 600) == SubjectState{});
    CHECK(Fail(*s, kAlice, 1, p, kT0 + 601).state == SubjectState{1, false, 0});
  }

  SUBCASE("the counter's life slides from the latest failure") {
    auto s = factory.Make();
    Fail(*s, kAlice, 5, p, kT0);
    Fail(*s, kAlice, 5, p, kT0 + 299);  // Refreshes to kT0 + 599.
    CHECK(StateAt(*s, kAlice, kT0 + 598).failures == 2);
    CHECK(StateAt(*s, kAlice, kT0 + 599).failures == 0);
    CHECK(Fail(*s, kAlice, 5, p, kT0 + 600).state.failures == 1);
  }

  SUBCASE("attempt_ttl 0 never forgets") {
    auto s = factory.Make();
    LockoutParams forever = p;
    forever.attempt_ttl = 0;
    Fail(*s, kAlice, 5, forever, kT0);
    CHECK(StateAt(*s, kAlice, kT0 + 10 * 365 * 86400).failures == 1);
  }

  SUBCASE("progressive lockouts follow the list; 0 is permanent") {
    auto s = factory.Make();
    LockoutParams prog = p;
    prog.lockout_lengths = {60, 300, 0};
    int64_t t = kT0;
    const auto block = [&]() {
      Fail(*s, kAlice, 0, prog, t);
      return StateAt(*s, kAlice, t);
    };
    CHECK(block() == SubjectState{1, true, t + 60});
    t += 60;
    CHECK(block() == SubjectState{1, true, t + 300});
    t += 300;
    const SubjectState third = block();
    CHECK(third.blocked);
    CHECK(third.permanent());
    CHECK(StateAt(*s, kAlice, t + 100 * 86400).permanent());
  }

  SUBCASE("the last list element repeats; history outside the window is gone") {
    auto s = factory.Make();
    LockoutParams prog = p;
    prog.lockout_lengths = {60, 300};
    prog.history_seconds = 3600;
    Fail(*s, kAlice, 0, prog, kT0);        // 1st: 60 s
    Fail(*s, kAlice, 0, prog, kT0 + 60);   // 2nd: 300 s
    Fail(*s, kAlice, 0, prog, kT0 + 360);  // 3rd: repeats 300 s
    CHECK(StateAt(*s, kAlice, kT0 + 360).until == kT0 + 660);
    // Three hours later every earlier block is outside the window.
    const int64_t later = kT0 + 3 * 3600;
    Fail(*s, kAlice, 0, prog, later);
    CHECK(StateAt(*s, kAlice, later).until == later + 60);
  }

  SUBCASE("unblock clears block and counter but keeps the history") {
    auto s = factory.Make();
    LockoutParams prog = p;
    prog.lockout_lengths = {60, 300};
    Fail(*s, kAlice, 0, prog, kT0);
    bool was = false;
    REQUIRE(s->Unblock(kAlice, kT0 + 1, &was, &err));
    CHECK(was);
    CHECK(StateAt(*s, kAlice, kT0 + 1) == SubjectState{});
    REQUIRE(s->Unblock(kAlice, kT0 + 2, &was, &err));
    CHECK_FALSE(was);
    Fail(*s, kAlice, 0, prog, kT0 + 3);
    CHECK(StateAt(*s, kAlice, kT0 + 3).until == kT0 + 303);
  }

  SUBCASE("success resets the flagged subjects unless refused") {
    auto s = factory.Make();
    Fail(*s, kAlice, 3, p, kT0);
    Fail(*s, kHostA, 3, p, kT0);
    const Subject both[] = {kAlice, kHostA};
    const bool reset_user_only[] = {true, false};
    std::vector<SubjectState> before;
    bool refused = true;
    REQUIRE(s->RecordSuccess(both, reset_user_only, {}, RefusalRule::kAny, 0,
                             kT0 + 1, &before, &refused, &err));
    CHECK_FALSE(refused);
    CHECK(before[0].failures == 1);
    CHECK(before[1].failures == 1);
    CHECK(StateAt(*s, kAlice, kT0 + 1).failures == 0);
    CHECK(StateAt(*s, kHostA, kT0 + 1).failures == 1);
  }

  SUBCASE("success is refused under kAny when one subject is blocked") {
    auto s = factory.Make();
    for (int i = 0; i < 2; ++i) Fail(*s, kHostA, 1, p, kT0);
    Fail(*s, kAlice, 3, p, kT0);
    const Subject both[] = {kAlice, kHostA};
    const bool reset_all[] = {true, true};
    std::vector<SubjectState> before;
    bool refused = false;
    REQUIRE(s->RecordSuccess(both, reset_all, {}, RefusalRule::kAny, 0, kT0 + 1,
                             &before, &refused, &err));
    CHECK(refused);
    CHECK(StateAt(*s, kAlice, kT0 + 1).failures == 1);
    CHECK(StateAt(*s, kHostA, kT0 + 1).blocked);
  }

  SUBCASE("kAll refuses only when every subject is blocked; kNever never") {
    auto s = factory.Make();
    for (int i = 0; i < 2; ++i) Fail(*s, kAlice, 1, p, kT0);
    const Subject both[] = {kAlice, kHostA};
    const bool reset_user[] = {true, false};
    std::vector<SubjectState> before;
    bool refused = true;
    REQUIRE(s->RecordSuccess(both, reset_user, {}, RefusalRule::kAll, 0,
                             kT0 + 1, &before, &refused, &err));
    CHECK_FALSE(refused);
    CHECK(before[0].blocked);
    CHECK(StateAt(*s, kAlice, kT0 + 1) == SubjectState{});
    for (int i = 0; i < 2; ++i) Fail(*s, kAlice, 1, p, kT0 + 2);
    for (int i = 0; i < 2; ++i) Fail(*s, kHostA, 1, p, kT0 + 2);
    REQUIRE(s->RecordSuccess(both, reset_user, {}, RefusalRule::kAll, 0,
                             kT0 + 3, &before, &refused, &err));
    CHECK(refused);
    REQUIRE(s->RecordSuccess(both, reset_user, {}, RefusalRule::kNever, 0,
                             kT0 + 3, &before, &refused, &err));
    CHECK_FALSE(refused);
  }

  // Issue 10 review: a failure refused by one subject's block must not
  // count on the others, or their state would tell the attacker whether a
  // held login's password was wrong.
  SUBCASE("a refused failure counts on no subject; kAll counts unless all") {
    auto s = factory.Make();
    for (int i = 0; i < 2; ++i) Fail(*s, kHostA, 1, p, kT0);
    Fail(*s, kAlice, 3, p, kT0);
    const FailureRequest both[] = {{kAlice, 3}, {kHostA, 1}};
    std::vector<FailureOutcome> out;
    bool refused = false;
    REQUIRE(s->RecordFailure(both, RefusalRule::kAny, FailureMode::kCount, p,
                             kT0 + 1, &out, &refused, &err));
    CHECK(refused);
    REQUIRE(out.size() == 2);
    CHECK(out[0].state == SubjectState{1, false, 0});
    CHECK_FALSE(out[0].newly_blocked);
    CHECK(out[1].state == SubjectState{2, true, kT0 + 600});
    CHECK(StateAt(*s, kAlice, kT0 + 1).failures == 1);
    // Under kAll one block is not a refusal: alice is counted.
    REQUIRE(s->RecordFailure(both, RefusalRule::kAll, FailureMode::kCount, p,
                             kT0 + 2, &out, &refused, &err));
    CHECK_FALSE(refused);
    CHECK(out[0].state.failures == 2);
    CHECK(StateAt(*s, kAlice, kT0 + 2).failures == 2);
    // kNever never refuses.
    REQUIRE(s->RecordFailure(both, RefusalRule::kNever, FailureMode::kCount, p,
                             kT0 + 3, &out, &refused, &err));
    CHECK_FALSE(refused);
    CHECK(StateAt(*s, kAlice, kT0 + 3).failures == 3);
  }

  // Issue 10 finding (killed su): in a setuid context preauth counts the
  // attempt before the password is checked (kProvisional) and authfail
  // concludes it (kConclude), so that killing the process between the
  // password check and authfail cannot leave a wrong guess uncounted.
  SUBCASE("provisional counts without blocking; above the limit it blocks") {
    auto s = factory.Make();
    LockoutParams prog = p;
    prog.lockout_lengths = {600, 1200};
    for (int i = 1; i <= 4; ++i) {
      const FailureOutcome o =
          Fail(*s, kAlice, 3, prog, kT0 + i, FailureMode::kProvisional);
      CHECK(o.state == SubjectState{i, false, 0});
      CHECK_FALSE(o.newly_blocked);
    }
    // The counter's life slides from the latest provisional count.
    CHECK(StateAt(*s, kAlice, kT0 + 4 + 299).failures == 4);
    // 4 > 3: an attempt was counted and never concluded; the next blocks.
    const FailureOutcome o =
        Fail(*s, kAlice, 3, prog, kT0 + 10, FailureMode::kProvisional);
    CHECK(o.newly_blocked);
    CHECK(o.state == SubjectState{4, true, kT0 + 610});
    // Blocked: refused and unchanged.
    const FailureOutcome again =
        Fail(*s, kAlice, 3, prog, kT0 + 11, FailureMode::kProvisional);
    CHECK_FALSE(again.newly_blocked);
    CHECK(again.state == SubjectState{4, true, kT0 + 610});
    // A normal block: in the history, so the next one is longer.
    for (int i = 1; i <= 4; ++i) {
      Fail(*s, kAlice, 3, prog, kT0 + 700, FailureMode::kProvisional);
    }
    CHECK(
        Fail(*s, kAlice, 3, prog, kT0 + 701, FailureMode::kProvisional).state ==
        SubjectState{4, true, kT0 + 701 + 1200});
  }

  SUBCASE("conclude counts nothing; a counter above the limit blocks") {
    auto s = factory.Make();
    // Nothing counted by preauth here (its `provisional` is 0): counted as
    // kCount, so the guess is not lost.
    const FailureOutcome fresh =
        Fail(*s, kAlice, 3, p, kT0, FailureMode::kConclude);
    CHECK(fresh.state == SubjectState{1, false, 0});
    CHECK_FALSE(fresh.newly_blocked);
    CHECK(fresh.counted != 0);
    CHECK(StateAt(*s, kAlice, kT0 + 299).failures == 1);
    StoreStats stats;
    REQUIRE_MESSAGE(s->Stats(kT0, p.history_seconds, &stats, &err), err);
    CHECK(stats.failing_users == 1);
    bool was_blocked = true;
    REQUIRE_MESSAGE(s->Unblock(kAlice, kT0, &was_blocked, &err), err);
    CHECK_FALSE(was_blocked);
    CHECK(StateAt(*s, kAlice, kT0) == SubjectState{});
    Generation generation = 0;
    for (int i = 1; i <= 3; ++i) {
      const FailureOutcome pre =
          Fail(*s, kAlice, 3, p, kT0 + i, FailureMode::kProvisional);
      // One counter: one generation, kept while it lives.
      CHECK(pre.counted != 0);
      if (i == 1) generation = pre.counted;
      CHECK(pre.counted == generation);
      const FailureOutcome o = Conclude(*s, kAlice, 3, p, kT0 + 100, pre);
      CHECK(o.state == SubjectState{i, false, 0});
      CHECK_FALSE(o.newly_blocked);
      CHECK(o.counted == 0);
    }
    // Concluding does not refresh the counter's life.
    CHECK(StateAt(*s, kAlice, kT0 + 3 + 299).failures == 3);
    CHECK(StateAt(*s, kAlice, kT0 + 3 + 300) == SubjectState{});
    std::vector<FailureOutcome> held;
    for (int i = 1; i <= 4; ++i) {
      held.push_back(
          Fail(*s, kAlice, 3, p, kT0 + 400, FailureMode::kProvisional));
    }
    // A new counter, a new generation.
    CHECK(held[0].counted != generation);
    const FailureOutcome o = Conclude(*s, kAlice, 3, p, kT0 + 401, held[0]);
    CHECK(o.newly_blocked);
    CHECK(o.state == SubjectState{4, true, kT0 + 1001});
    CHECK(o.counted == 0);
    const FailureOutcome again = Conclude(*s, kAlice, 3, p, kT0 + 402, held[1]);
    CHECK_FALSE(again.newly_blocked);
    CHECK(again.state == SubjectState{4, true, kT0 + 1001});
    REQUIRE_MESSAGE(s->Stats(kT0 + 402, p.history_seconds, &stats, &err), err);
    CHECK(stats.blocks_in_window == 1);
  }

  // A provisional count that a reset took while its password was checked
  // is counted at its conclusion, even when other attempts counted since
  // and one of them was killed (its count stays, never concluded): the
  // counter's generation says whose counts it holds. Before generations,
  // the conclusion took the killed attempt's pending count: two guesses,
  // one failure.
  SUBCASE("a conclusion whose provisional count a reset took counts") {
    auto s = factory.Make();
    const auto reset = [&](int64_t now) {
      const bool yes[] = {true};
      std::vector<SubjectState> before;
      bool refused = true;
      REQUIRE_MESSAGE(s->RecordSuccess({&kAlice, 1}, yes, {}, RefusalRule::kAny,
                                       0, now, &before, &refused, &err),
                      err);
      CHECK_FALSE(refused);
    };
    // A is counted, then alice logs in elsewhere while A's password is
    // checked; K is counted after that and killed, B counted after K.
    const FailureOutcome a =
        Fail(*s, kAlice, 3, p, kT0, FailureMode::kProvisional);
    CHECK(a.state == SubjectState{1, false, 0});
    reset(kT0 + 1);
    const FailureOutcome k =
        Fail(*s, kAlice, 3, p, kT0 + 2, FailureMode::kProvisional);
    CHECK(k.state == SubjectState{1, false, 0});
    CHECK(k.counted != a.counted);
    const FailureOutcome b =
        Fail(*s, kAlice, 3, p, kT0 + 2, FailureMode::kProvisional);
    CHECK(b.state == SubjectState{2, false, 0});
    // B concludes: counted already. A concludes: its count is gone, so it
    // counts; K's count stays.
    CHECK(Conclude(*s, kAlice, 3, p, kT0 + 3, b).state ==
          SubjectState{2, false, 0});
    const FailureOutcome late = Conclude(*s, kAlice, 3, p, kT0 + 4, a);
    CHECK(late.state == SubjectState{3, false, 0});
    CHECK(late.counted == k.counted);
    // Held across the counter's end: counted on the new counter.
    const FailureOutcome c =
        Fail(*s, kAlice, 10, p, kT0 + 5, FailureMode::kProvisional);
    CHECK(c.state == SubjectState{4, false, 0});
    CHECK(StateAt(*s, kAlice, kT0 + 5 + 300) == SubjectState{});
    const FailureOutcome d =
        Fail(*s, kAlice, 10, p, kT0 + 5 + 300, FailureMode::kProvisional);
    CHECK(d.state == SubjectState{1, false, 0});
    CHECK(Conclude(*s, kAlice, 10, p, kT0 + 5 + 301, c).state ==
          SubjectState{2, false, 0});
    CHECK(Conclude(*s, kAlice, 10, p, kT0 + 5 + 302, d).state ==
          SubjectState{2, false, 0});
  }

  // Any number of attempts held at once each count exactly once (a pending
  // count kept in a byte counted more than 255 of them twice).
  SUBCASE("300 attempts held at once count once each") {
    auto s = factory.Make();
    const int64_t count = 300;
    std::vector<FailureOutcome> held;
    for (int64_t i = 1; i <= count; ++i) {
      held.push_back(Fail(*s, kAlice, 1000, p, kT0, FailureMode::kProvisional));
    }
    CHECK(StateAt(*s, kAlice, kT0).failures == count);
    for (const FailureOutcome& o : held) {
      Conclude(*s, kAlice, 1000, p, kT0 + 1, o);
    }
    CHECK(StateAt(*s, kAlice, kT0 + 1).failures == count);
  }

  // A success takes its own provisional count back from a subject it does
  // not reset, only from the counter that count went to.
  SUBCASE("a success takes back its own count, from its own counter") {
    auto s = factory.Make();
    const auto success = [&](bool reset_it, Generation back, int64_t now) {
      const bool reset[] = {reset_it};
      const Generation take_back[] = {back};
      std::vector<SubjectState> before;
      bool refused = true;
      REQUIRE_MESSAGE(
          s->RecordSuccess({&kHostA, 1}, reset, take_back, RefusalRule::kNever,
                           0, now, &before, &refused, &err),
          err);
      CHECK_FALSE(refused);
      return before[0];
    };
    const FailureOutcome own =
        Fail(*s, kHostA, 10, p, kT0, FailureMode::kProvisional);
    Fail(*s, kHostA, 10, p, kT0 + 1);
    CHECK(success(false, own.counted, kT0 + 2) == SubjectState{2, false, 0});
    // One failure fewer, the counter's life unchanged.
    CHECK(StateAt(*s, kHostA, kT0 + 2) == SubjectState{1, false, 0});
    CHECK(StateAt(*s, kHostA, kT0 + 1 + 300) == SubjectState{});
    // At none the counter is gone.
    CHECK(success(false, own.counted, kT0 + 3) == SubjectState{1, false, 0});
    CHECK(StateAt(*s, kHostA, kT0 + 3) == SubjectState{});
    // Another counter (this one started after the count): nothing.
    const FailureOutcome other = Fail(*s, kHostA, 10, p, kT0 + 4);
    CHECK(other.counted != own.counted);
    success(false, own.counted, kT0 + 5);
    CHECK(StateAt(*s, kHostA, kT0 + 5) == SubjectState{1, false, 0});
    // No generation: nothing.
    success(false, 0, kT0 + 5);
    CHECK(StateAt(*s, kHostA, kT0 + 5) == SubjectState{1, false, 0});
    // Blocked: nothing.
    REQUIRE_MESSAGE(s->Block(kHostA, kT0 + 100, kT0 + 6, &err), err);
    success(false, other.counted, kT0 + 7);
    CHECK(StateAt(*s, kHostA, kT0 + 7) == SubjectState{1, true, kT0 + 100});
    // Reset wins.
    bool was_blocked = false;
    REQUIRE_MESSAGE(s->Unblock(kHostA, kT0 + 8, &was_blocked, &err), err);
    const FailureOutcome again = Fail(*s, kHostA, 10, p, kT0 + 9);
    Fail(*s, kHostA, 10, p, kT0 + 9);
    success(true, again.counted, kT0 + 10);
    CHECK(StateAt(*s, kHostA, kT0 + 10) == SubjectState{});
  }

  // A conclusion against a blocked subject changes nothing; once the block
  // is over (the counter with it), it counts.
  SUBCASE("a conclusion on a subject blocked since preauth") {
    auto s = factory.Make();
    const FailureOutcome a =
        Fail(*s, kAlice, 3, p, kT0, FailureMode::kProvisional);
    REQUIRE_MESSAGE(s->Block(kAlice, kT0 + 60, kT0 + 1, &err), err);
    const FailureOutcome during = Conclude(*s, kAlice, 3, p, kT0 + 2, a);
    CHECK(during.state == SubjectState{1, true, kT0 + 60});
    CHECK(during.counted == 0);
    CHECK_FALSE(during.newly_blocked);
    const FailureOutcome after = Conclude(*s, kAlice, 3, p, kT0 + 60, a);
    CHECK(after.state == SubjectState{1, false, 0});
    CHECK(after.counted != 0);
  }

  SUBCASE("manual block: until, permanent, counted in history") {
    auto s = factory.Make();
    Fail(*s, kAlice, 3, p, kT0);
    REQUIRE(s->Block(kAlice, kT0 + 50, kT0, &err));
    CHECK(StateAt(*s, kAlice, kT0 + 1) == SubjectState{1, true, kT0 + 50});
    CHECK(StateAt(*s, kAlice, kT0 + 50) == SubjectState{});
    REQUIRE(s->Block(kHostA, 0, kT0, &err));
    CHECK(StateAt(*s, kHostA, kT0 + 365 * 86400).permanent());
    StoreStats st;
    REQUIRE(s->Stats(kT0 + 1, 86400, &st, &err));
    CHECK(st.blocks_in_window == 2);
  }

  SUBCASE("list, stats, unblock all and prune") {
    auto s = factory.Make();
    const Subject bob{SubjectKind::kUser, "bob"};
    for (int i = 0; i < 2; ++i) Fail(*s, kAlice, 1, p, kT0);  // blocked
    Fail(*s, bob, 3, p, kT0);                                 // failing
    REQUIRE(s->Block(kHostA, 0, kT0, &err));                  // permanent
    std::vector<StoreEntry> all, blocked;
    REQUIRE(s->List(kT0 + 1, false, &all, &err));
    REQUIRE(s->List(kT0 + 1, true, &blocked, &err));
    REQUIRE(all.size() == 3);
    CHECK(all[0].subject == kAlice);
    CHECK(all[1].subject == bob);
    CHECK(all[2].subject == kHostA);
    CHECK(all[1].state == SubjectState{1, false, 0});
    REQUIRE(blocked.size() == 2);
    CHECK(blocked[0].subject == kAlice);
    CHECK(blocked[1].subject == kHostA);

    StoreStats st;
    REQUIRE(s->Stats(kT0 + 1, 86400, &st, &err));
    CheckStats(st, {1, 1, 1, 1, 0, 3, 2});

    std::vector<Subject> cleared;
    REQUIRE(s->UnblockAll(kT0 + 1, &cleared, &err));
    CHECK(cleared.size() == 2);
    REQUIRE(s->List(kT0 + 1, true, &blocked, &err));
    CHECK(blocked.empty());
    REQUIRE(s->List(kT0 + 1, false, &all, &err));
    CHECK(all.size() == 1);  // bob's counter stays.

    // After bob's counter expired and the history left the window, Prune
    // leaves nothing behind that List or Stats could see.
    int64_t removed = -1;
    REQUIRE(s->Prune(kT0 + 2 * 86400, 86400, &removed, &err));
    CHECK(removed >= 0);
    REQUIRE(s->Stats(kT0 + 2 * 86400, 86400, &st, &err));
    CHECK(st.blocks_in_window == 0);
    CHECK(st.failures == 0);
  }

  CheckRememberedContract(factory);

  SUBCASE("names are opaque: odd bytes stay inside their subject") {
    auto s = factory.Make();
    const Subject odd{SubjectKind::kUser, "a}b{c:d%0A\"'*$"};
    const Subject plain{SubjectKind::kUser, "a"};
    Fail(*s, odd, 3, p, kT0);
    CHECK(StateAt(*s, odd, kT0).failures == 1);
    CHECK(StateAt(*s, plain, kT0).failures == 0);
    const Subject host_same_name{SubjectKind::kHost, odd.name};
    CHECK(StateAt(*s, host_same_name, kT0).failures == 0);
  }
}

}  // namespace defender::testing

#endif  // PAM_DEFENDER_TESTS_UNIT_STORE_CONTRACT_H_
