// RunParallel (common/parallel.h) with no runner, and defenderctl's runner
// (defenderctl/threads.h): how many threads run the work, and what becomes
// of an exception thrown on one of them.
#include "common/parallel.h"

#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "defenderctl/threads.h"

namespace defender::testing {
namespace {

using ctl::Processors;

TEST_CASE("RunParallel without a runner: once, on the caller's thread") {
  SetParallelRunner(nullptr);
  int calls = 0;
  std::thread::id on;
  RunParallel(4, [&] {
    ++calls;
    on = std::this_thread::get_id();
  });
  CHECK(calls == 1);
  CHECK(on == std::this_thread::get_id());
}

TEST_CASE("RunOnThreads: the caller and one thread per processor at most") {
  for (const int asked : {1, 2, 4, 64}) {
    CAPTURE(asked);
    std::mutex mu;
    std::set<std::thread::id> ran;
    std::atomic<int> calls{0};
    ctl::RunOnThreads(asked, [&] {
      ++calls;
      std::lock_guard<std::mutex> lock(mu);
      ran.insert(std::this_thread::get_id());
    });
    const int want = std::min(asked, Processors());
    CHECK(calls == want);
    CHECK(static_cast<int>(ran.size()) == want);
    CHECK(ran.count(std::this_thread::get_id()) == 1);
  }
}

TEST_CASE("RunOnThreads: an exception on any thread reaches the caller") {
  // The suite runs on 2 processors or more (README, Testing).
  REQUIRE_MESSAGE(Processors() >= 2, "this case needs two processors");
  std::atomic<int> returned{0};
  const std::thread::id caller = std::this_thread::get_id();
  SUBCASE("thrown on a helper thread, after the others returned") {
    CHECK_THROWS_WITH_AS(
        ctl::RunOnThreads(2,
                          [&] {
                            if (std::this_thread::get_id() != caller) {
                              throw std::runtime_error("helper");
                            }
                            ++returned;
                          }),
        "helper", std::runtime_error);
    CHECK(returned == 1);
  }
  SUBCASE("thrown on the caller's thread, once the helper returned") {
    CHECK_THROWS_WITH_AS(
        ctl::RunOnThreads(2,
                          [&] {
                            if (std::this_thread::get_id() == caller) {
                              throw std::runtime_error("caller");
                            }
                            ++returned;
                          }),
        "caller", std::runtime_error);
    CHECK(returned == 1);
  }
}

}  // namespace
}  // namespace defender::testing
