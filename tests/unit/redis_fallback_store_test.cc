// FallbackStore (redis.on_error = "local"): the call that finds Redis down
// hands the local store a time moved on by what the failed call lasted.
#include "common/redis_fallback_store.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/memory_store.h"

namespace defender::testing {
namespace {

constexpr int64_t kT0 = 1'700'000'000;
const LockoutParams kParams{300, {600}, 86400};

// One failure of `name` with a limit of 0 (it blocks at once), at `now`.
// Returns the block's end, or -1 if the call failed.
int64_t BlockedUntil(Store* s, const std::string& name, int64_t now) {
  const FailureRequest req{{SubjectKind::kUser, name}, 0};
  std::vector<FailureOutcome> out;
  bool refused = false;
  std::string err;
  if (!s->RecordFailure({&req, 1}, RefusalRule::kAny, FailureMode::kCount,
                        kParams, now, &out, &refused, &err)) {
    return -1;
  }
  REQUIRE(out.size() == 1);
  return out[0].state.until;
}

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
  CHECK(BlockedUntil(&store, "alice", kT0) == kT0 + lasted + 600);
  CHECK(store.primary_error() == "memory store: injected failure");
  CHECK(store.secondary_used());
  // The next call goes to the local store alone; its `now` was read after
  // the failure and is used as it is.
  const auto start = std::chrono::steady_clock::now();
  CHECK(BlockedUntil(&store, "bob", kT0) == kT0 + 600);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  CHECK(opened == 1);
}

TEST_CASE("FallbackStore: no local store, the call fails with both reasons") {
  MemoryStore redis;
  redis.set_failing(true);
  FallbackStore store(&redis, [](std::string* why) -> Store* {
    *why = "no room";
    return nullptr;
  });
  const Subject alice{SubjectKind::kUser, "alice"};
  std::vector<SubjectState> states;
  std::string err;
  CHECK_FALSE(store.Get({&alice, 1}, kT0, &states, &err));
  CHECK(err ==
        "memory store: injected failure; the local store cannot take over: "
        "no room");
  CHECK_FALSE(store.secondary_used());
}

}  // namespace defender::testing
