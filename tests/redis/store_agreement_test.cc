// The three stores side by side: MemoryStore, LocalStore and RedisStore (a
// real redis-server) given the same random steps (provisional counts, their
// conclusions, successes that take a count back, killed attempts, counts,
// resets, blocks, unblocks, time passing across counters' and blocks'
// ends) must give the same outcomes and states after every step; and
// generations planted in Redis by another client of the store (any value
// in the hash field g) never mislead a conclusion or a take-back.
#include <doctest/doctest.h>

#include <memory>
#include <random>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "common/local_store.h"
#include "common/redis_conn.h"
#include "common/redis_store.h"
#include "common/store_logic.h"
#include "tests/support/files.h"
#include "tests/support/memory_store.h"
#include "tests/support/redis_server.h"

namespace defender::testing {
namespace {

RedisServer& Server() {
  static RedisServer server;
  return server;
}

RedisSettings Settings() {
  RedisSettings rs;
  rs.url = Server().url();
  rs.connect_timeout_ms = 2000;
  rs.command_timeout_ms = 2000;
  return rs;
}

std::string Text(const SubjectState& s) {
  std::ostringstream o;
  o << "{" << s.failures << "," << s.blocked << "," << s.until << ","
    << s.exempt << "}";
  return o.str();
}

const std::vector<Subject> kSubjects = {
    {SubjectKind::kUser, "alice"},
    {SubjectKind::kHost, "192.0.2.7"},
    {SubjectKind::kPair, "alice@192.0.2.7"}};
constexpr int64_t kLimits[] = {3, 5, 2};

// The generation `counted` gives `subject` (0: none).
Generation GenerationOf(const std::vector<ProvisionalCount>& counted,
                        const Subject& subject) {
  for (const ProvisionalCount& c : counted) {
    if (c.subject == subject) return c.generation;
  }
  return 0;
}

// One RecordFailure on subjects `which`; the outcome as text, and in
// *counted what it counted on. `provisional` (conclusions) gives each
// subject's generation.
std::string Failure(Store& store, const std::vector<size_t>& which,
                    RefusalRule rule, FailureMode mode, int64_t now,
                    const std::vector<ProvisionalCount>& provisional,
                    std::vector<ProvisionalCount>* counted) {
  static const LockoutParams params{300, {60, 120, 0}, 86400};
  std::vector<FailureRequest> requests;
  for (size_t i : which) {
    requests.push_back(
        {kSubjects[i], kLimits[i], GenerationOf(provisional, kSubjects[i])});
  }
  std::vector<FailureOutcome> out;
  bool refused = false;
  std::string err;
  REQUIRE_MESSAGE(store.RecordFailure(requests, rule, mode, params, now, &out,
                                      &refused, &err),
                  err);
  std::ostringstream r;
  r << "refused " << refused;
  for (size_t i = 0; i < out.size(); ++i) {
    // An exempt pair's state may read as empty (store.h): not compared.
    const bool exempt_pair =
        out[i].state.exempt && requests[i].subject.kind == SubjectKind::kPair;
    r << " " << (exempt_pair ? "{exempt pair}" : Text(out[i].state))
      << " new block " << out[i].newly_blocked << " counted "
      << (out[i].counted != 0);
    if (out[i].counted != 0) {
      counted->push_back({requests[i].subject, out[i].counted});
    }
  }
  if (refused) counted->clear();
  return r.str();
}

// One RecordSuccess on subjects `which`, resetting all but the host when
// `keep_host`, taking back what `provisional` gives.
std::string Success(Store& store, const std::vector<size_t>& which,
                    RefusalRule rule, bool keep_host, int64_t remember,
                    int64_t now,
                    const std::vector<ProvisionalCount>& provisional) {
  std::vector<Subject> subjects;
  bool reset[3];
  Generation back[3];
  for (size_t j = 0; j < which.size(); ++j) {
    subjects.push_back(kSubjects[which[j]]);
    reset[j] = !keep_host || subjects[j].kind != SubjectKind::kHost;
    back[j] = GenerationOf(provisional, subjects[j]);
  }
  std::vector<SubjectState> before;
  bool refused = false;
  std::string err;
  REQUIRE_MESSAGE(
      store.RecordSuccess(subjects, {reset, which.size()}, {back, which.size()},
                          rule, remember, now, &before, &refused, &err),
      err);
  std::string r = "refused " + std::to_string(refused);
  for (const SubjectState& s : before) r += " " + Text(s);
  return r;
}

// An attempt past preauth: its subjects and, per store, what its
// provisional count went to.
struct Held {
  std::vector<size_t> which;
  std::vector<std::vector<ProvisionalCount>> counted;
};

}  // namespace

TEST_CASE("the three stores agree on random setuid sequences") {
  for (const unsigned seed : {1u, 2u, 3u, 4u}) {
    CAPTURE(seed);
    TempDir dir;
    std::string err;
    std::vector<std::unique_ptr<Store>> stores;
    stores.push_back(std::make_unique<MemoryStore>());
    auto local = LocalStore::Open(dir.path() + "/s", 1000, &err);
    REQUIRE_MESSAGE(local != nullptr, err);
    stores.push_back(std::move(local));
    Server().Cmd({"FLUSHALL"});
    RedisConnection conn(Settings());
    RedisStoreOptions ro;
    ro.origin_host = "web-1";
    ro.service = "sshd";
    stores.push_back(std::make_unique<RedisStore>(&conn, ro));
    const std::string names[] = {"memory", "local", "redis"};

    std::mt19937 rng(seed);
    int64_t now = 1'700'000'000;
    std::vector<Held> held;
    std::string trace;
    for (int step = 0; step < 2000; ++step) {
      const unsigned op = rng() % 100;
      const RefusalRule rule =
          rng() % 2 ? RefusalRule::kAny : RefusalRule::kAll;
      std::vector<size_t> which = {0, 1};
      if (rng() % 2 == 0) which = {0, 1, 2};
      if (rng() % 4 == 0) which = {rng() % 2};
      std::vector<std::string> result(stores.size());
      std::string what;
      if (op < 30 || (op < 45 && held.empty())) {
        what = "provisional";
        Held h{which, {}};
        for (size_t k = 0; k < stores.size(); ++k) {
          h.counted.emplace_back();
          result[k] =
              Failure(*stores[k], which, rule, FailureMode::kProvisional, now,
                      {}, &h.counted.back());
        }
        // A refused attempt ends at preauth (never concluded).
        if (result[0].rfind("refused 0", 0) == 0) held.push_back(std::move(h));
      } else if (op < 55 && !held.empty()) {
        // A held attempt concludes: a wrong password, or a right one.
        const size_t idx = rng() % held.size();
        const Held h = held[idx];
        held.erase(held.begin() + idx);
        const bool right = op >= 45;
        what = (right ? "success of held #" : "conclusion of held #") +
               std::to_string(idx);
        for (size_t k = 0; k < stores.size(); ++k) {
          std::vector<ProvisionalCount> unused;
          result[k] =
              right ? Success(*stores[k], h.which, rule, /*keep_host=*/true,
                              (step % 3) * 200, now, h.counted[k])
                    : Failure(*stores[k], h.which, rule, FailureMode::kConclude,
                              now, h.counted[k], &unused);
        }
      } else if (op < 60 && !held.empty()) {
        what = "killed";
        held.erase(held.begin() + rng() % held.size());
      } else if (op < 72) {
        what = "count";
        for (size_t k = 0; k < stores.size(); ++k) {
          std::vector<ProvisionalCount> unused;
          result[k] = Failure(*stores[k], which, rule, FailureMode::kCount, now,
                              {}, &unused);
        }
      } else if (op < 77) {
        what = "success";
        for (size_t k = 0; k < stores.size(); ++k) {
          result[k] = Success(*stores[k], which, rule, /*keep_host=*/false,
                              (step % 2) * 500, now, {});
        }
      } else if (op < 80) {
        const size_t i = rng() % 3;
        const int64_t until = rng() % 3 == 0 ? 0 : now + 1 + rng() % 200;
        what = "block " + std::to_string(i) + " " + std::to_string(until);
        for (auto& s : stores) {
          REQUIRE_MESSAGE(s->Block(kSubjects[i], until, now, &err), err);
        }
      } else if (op < 84) {
        const size_t i = rng() % 3;
        what = "unblock " + std::to_string(i);
        for (size_t k = 0; k < stores.size(); ++k) {
          bool was = false;
          REQUIRE_MESSAGE(stores[k]->Unblock(kSubjects[i], now, &was, &err),
                          err);
          result[k] = std::to_string(was);
        }
      } else {
        const int64_t dt = rng() % 3 == 0 ? 0 : rng() % 400;
        now += dt;
        what = "advance " + std::to_string(dt);
      }
      std::vector<std::string> states(stores.size());
      for (size_t k = 0; k < stores.size(); ++k) {
        std::vector<SubjectState> st;
        REQUIRE_MESSAGE(stores[k]->Get(kSubjects, now, &st, &err), err);
        states[k] = Text(st[0]) + Text(st[1]) + Text(st[2]);
        // For a decision, the same states, but an exempt pair's, which may
        // read as empty.
        std::vector<SubjectState> decision;
        REQUIRE_MESSAGE(
            stores[k]->GetForDecision(kSubjects, now, &decision, &err), err);
        REQUIRE(decision.size() == 3);
        CHECK(Text(decision[0]) + Text(decision[1]) ==
              Text(st[0]) + Text(st[1]));
        if (st[2].exempt) {
          CHECK_MESSAGE((decision[2] == st[2] ||
                         decision[2] == SubjectState{0, false, 0, true}),
                        names[k] << " " << Text(decision[2]));
        } else {
          CHECK(Text(decision[2]) == Text(st[2]));
        }
      }
      trace += std::to_string(step) + ": " + what + " -> " + result[0] + " / " +
               states[0] + "\n";
      for (size_t k = 1; k < stores.size(); ++k) {
        if (result[k] != result[0] || states[k] != states[0]) {
          const size_t from = trace.size() > 3000 ? trace.size() - 3000 : 0;
          FAIL("step " << step << " (" << what << "): " << names[0] << " "
                       << result[0] << " " << states[0] << " vs " << names[k]
                       << " " << result[k] << " " << states[k] << "\ntrace:\n"
                       << trace.substr(from));
        }
      }
    }
  }
}

TEST_CASE("a generation planted in Redis never misleads a conclusion") {
  Server().Cmd({"FLUSHALL"});
  RedisConnection conn(Settings());
  RedisStore store(&conn, RedisStoreOptions{});
  std::string err;
  const Subject h{SubjectKind::kHost, "192.0.2.7"};
  const LockoutParams p{300, {60}, 86400};
  const int64_t now = 1'700'000'000;
  std::vector<FailureOutcome> out;
  bool refused = false;
  FailureRequest req{h, 10, 0};
  REQUIRE_MESSAGE(store.RecordFailure({&req, 1}, RefusalRule::kAny,
                                      FailureMode::kProvisional, p, now, &out,
                                      &refused, &err),
                  err);
  const std::string key = Server().Cmd({"KEYS", "*:s"});
  constexpr Generation kHeld = 4294967295u;  // What a held attempt counted on.
  for (const char* g :
       {"-1", "1e20", "abc", "4294967296", "nan", "inf", "-inf", "0x10", "",
        " 7 ", "1.5", "-0", "99999999999999999999999", "4294967295"}) {
    CAPTURE(g);
    // Only the one value that is that generation means "counted already".
    const bool same = std::string(g) == "4294967295";
    Server().Cmd({"HSET", key, "g", g, "f", "2", "b", "0", "e",
                  std::to_string(now + 300)});
    req.provisional = kHeld;
    REQUIRE_MESSAGE(store.RecordFailure({&req, 1}, RefusalRule::kAny,
                                        FailureMode::kConclude, p, now, &out,
                                        &refused, &err),
                    err);
    CHECK(out[0].state.failures == (same ? 2 : 3));
    CHECK((out[0].counted != 0) == !same);
    // Whatever was planted, the counter now has a generation in range.
    const std::string stored = Server().Cmd({"HGET", key, "g"});
    CHECK(std::stoull(stored) >= 1);
    CHECK(std::stoull(stored) <= 4294967295u);
    // A success takes back only from that same generation.
    Server().Cmd({"HSET", key, "g", g, "f", "2"});
    const bool reset[] = {false};
    const Generation back[] = {kHeld};
    std::vector<SubjectState> before;
    REQUIRE_MESSAGE(store.RecordSuccess({&h, 1}, reset, back, RefusalRule::kAny,
                                        0, now, &before, &refused, &err),
                    err);
    CHECK(Server().Cmd({"HGET", key, "f"}) == (same ? "1" : "2"));
  }
}

}  // namespace defender::testing
