// FallbackStore (redis.on_error = "local"): the call that finds Redis down
// hands the local store a time moved on by what the failed call lasted.
#include "common/redis_fallback_store.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/memory_store.h"
#include "tests/unit/store_contract.h"

namespace defender::testing {
namespace {

const LockoutParams kParams{300, {600}, 86400};

}  // namespace

// The caller reads `now` before the call; a Redis call may then last up to
// its connect and command timeouts (2 × 60 s at most) before it fails.
TEST_CASE(
    "FallbackStore: the call that falls back decides at the time it runs") {
  MemoryStore redis;
  MemoryStore local;
  redis.set_failing(true);
  int64_t lasted = 0;  // Whole seconds the failing call lasts.
  SUBCASE("Redis fails at once") {}
  SUBCASE("Redis fails after 1.5 s") {
    redis.set_fail_after(std::chrono::milliseconds(1500));
    lasted = 1;
  }
  int opened = 0;
  FallbackStore store(&redis, [&](std::string*) -> Store* {
    ++opened;
    return &local;
  });
  // A limit of 0: the failure blocks at once.
  CHECK(Fail(store, kAlice, 0, kParams, kT0).state.until == kT0 + lasted + 600);
  CHECK(store.primary_error() == "memory store: injected failure");
  CHECK(store.secondary_used());
  // The next call goes to the local store alone; its `now` was read after
  // the failure and is used as it is.
  const auto start = std::chrono::steady_clock::now();
  CHECK(Fail(store, {SubjectKind::kUser, "bob"}, 0, kParams, kT0).state.until ==
        kT0 + 600);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  CHECK(opened == 1);
}

// The same for the calls that decide whether a login is refused: a local
// block that ended while Redis hung no longer refuses.
TEST_CASE("FallbackStore: a block that ended while Redis hung does not count") {
  for (const int call : {0, 1, 2}) {
    CAPTURE(call);
    MemoryStore redis;
    MemoryStore local;
    std::string err;
    REQUIRE_MESSAGE(local.Block(kAlice, kT0 + 1, kT0, &err), err);
    redis.set_failing(true);
    redis.set_fail_after(std::chrono::milliseconds(1500));
    FallbackStore store(&redis, [&](std::string*) -> Store* { return &local; });
    std::vector<SubjectState> states;
    bool refused = true;
    switch (call) {
      case 0:
        REQUIRE_MESSAGE(store.GetForDecision({&kAlice, 1}, kT0, &states, &err),
                        err);
        CHECK(states == std::vector<SubjectState>{SubjectState{}});
        break;
      case 1:
        CHECK(StateAt(store, kAlice, kT0) == SubjectState{});
        break;
      case 2: {
        const bool reset[] = {true};
        const Generation take_back[] = {0};
        REQUIRE_MESSAGE(store.RecordSuccess({&kAlice, 1}, reset, take_back,
                                            RefusalRule::kAny, 0, kT0, &states,
                                            &refused, &err),
                        err);
        CHECK_FALSE(refused);
        break;
      }
    }
    CHECK(store.secondary_used());
  }
}

TEST_CASE("FallbackStore: no local store, the call fails with both reasons") {
  MemoryStore redis;
  redis.set_failing(true);
  FallbackStore store(&redis, [](std::string* why) -> Store* {
    *why = "no room";
    return nullptr;
  });
  std::vector<SubjectState> states;
  std::string err;
  CHECK_FALSE(store.Get({&kAlice, 1}, kT0, &states, &err));
  CHECK(err ==
        "memory store: injected failure; the local store cannot take over: "
        "no room");
  CHECK_FALSE(store.secondary_used());
}

}  // namespace defender::testing
