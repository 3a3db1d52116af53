// WaitFlock: bounded, taking a lock soon after it is freed, and sleeping
// rather than spinning while a holder keeps it.
#include "common/lock_wait.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>
#include <vector>

#include "tests/support/files.h"

namespace defender::testing {
namespace {

using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int OpenFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  return fd;
}

// CPU time of the calling thread so far.
double ThreadCpuMs() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

// How long WaitFlock took after another thread, holding the lock for
// `hold_ms`, released it (closing its descriptor, or with LOCK_UN).
double WakeDelayMs(const std::string& path, bool by_close, int hold_ms) {
  const int holder = OpenFile(path);
  REQUIRE(flock(holder, LOCK_EX) == 0);
  const int waiter = OpenFile(path);
  Clock::time_point released;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
    released = Clock::now();
    if (by_close) {
      close(holder);
    } else {
      flock(holder, LOCK_UN);
    }
  });
  const bool got = WaitFlock(waiter, LOCK_EX, 5000);
  const Clock::time_point done = Clock::now();
  t.join();
  CHECK(got);
  if (!by_close) close(holder);
  close(waiter);
  return std::chrono::duration<double, std::milli>(done - released).count();
}

TEST_CASE("WaitFlock: a free lock is taken at once, shared locks share") {
  TempDir tmp;
  const int a = OpenFile(tmp / "f");
  const int b = OpenFile(tmp / "f");
  CHECK(WaitFlock(a, LOCK_SH, 1000));
  CHECK(WaitFlock(b, LOCK_SH, 1000));
  const int c = OpenFile(tmp / "f");
  errno = 0;
  const bool got = WaitFlock(c, LOCK_EX, 0);
  const int error = errno;  // Before doctest writes anything.
  CHECK_FALSE(got);
  CHECK(error == ETIMEDOUT);
  close(a);
  close(b);
  CHECK(WaitFlock(c, LOCK_EX, 0));
  close(c);
}

// A WaitBudget bounds its waits together: a wait that timed out leaves
// nothing for the next (which fails at once, without sleeping), but a free
// lock is still taken; the clock starts only at the first busy lock.
TEST_CASE("WaitFlock: one budget bounds several waits together") {
  TempDir tmp;
  const int holder = OpenFile(tmp / "f");
  const int free_file = OpenFile(tmp / "g");
  const int waiter = OpenFile(tmp / "f");
  WaitBudget budget(200);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(WaitFlock(free_file, LOCK_EX, &budget));  // Starts no clock.
  CHECK(budget.waited() == Clock::duration::zero());
  REQUIRE(flock(holder, LOCK_EX) == 0);
  Clock::time_point t = Clock::now();
  errno = 0;
  bool got = WaitFlock(waiter, LOCK_EX, &budget);
  int error = errno;  // Before doctest writes anything.
  const double first = MsSince(t);
  CHECK_FALSE(got);
  CHECK(error == ETIMEDOUT);
  CHECK(first >= 200);  // The 50 ms before the first busy lock not counted.
  // The wait is counted as it lasted: at least the budget, at most the
  // call that made it.
  const auto ms = [](Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  const double waited_first = ms(budget.waited());
  CHECK(waited_first >= 200);
  CHECK(waited_first <= first);
  t = Clock::now();
  errno = 0;
  got = WaitFlock(waiter, LOCK_EX, &budget);
  error = errno;
  const double second = MsSince(t);
  CHECK_FALSE(got);
  CHECK(error == ETIMEDOUT);
  MESSAGE("waits of " << first << " and " << second << " ms");
  CHECK(second < 50);  // A budget of its own would wait 200 ms.
  const double waited_both = ms(budget.waited());
  CHECK(waited_both >= waited_first);
  CHECK(waited_both <= first + second);
  flock(holder, LOCK_UN);
  CHECK(WaitFlock(waiter, LOCK_EX, &budget));  // Free: taken, no time left.
  CHECK(ms(budget.waited()) == waited_both);   // Taken without a wait.
  close(holder);
  close(free_file);
  close(waiter);
}

// A stopped holder: the waiter gives up at the timeout, and sleeps (after
// kLockSpinUs of yielding) rather than spinning meanwhile.
TEST_CASE("WaitFlock: a lock never released times out, the waiter asleep") {
  TempDir tmp;
  const int holder = OpenFile(tmp / "f");
  REQUIRE(flock(holder, LOCK_EX) == 0);
  const int waiter = OpenFile(tmp / "f");
  const Clock::time_point t = Clock::now();
  const double cpu = ThreadCpuMs();
  errno = 0;
  const bool got = WaitFlock(waiter, LOCK_EX, 300);
  const int error = errno;  // Before doctest writes anything.
  const double took = MsSince(t);
  const double used = ThreadCpuMs() - cpu;
  CHECK_FALSE(got);
  CHECK(error == ETIMEDOUT);
  MESSAGE("waited " << took << " ms using " << used << " ms of CPU");
  CHECK(took >= 300);
  CHECK(took < 3000);
  CHECK(used < 100);  // A spinning waiter would use about 300.
  close(holder);
  close(waiter);
}

// Sleeps between tries never exceed 1 ms: a lock freed while the waiter
// sleeps is taken within about that, whether freed by a close or by
// LOCK_UN. The median of 7 rounds keeps one slow wake-up on a busy machine
// from failing the test.
TEST_CASE("WaitFlock: a freed lock is taken within about a millisecond") {
  TempDir tmp;
  for (const bool by_close : {true, false}) {
    std::vector<double> delays;
    for (int i = 0; i < 7; ++i) {
      delays.push_back(WakeDelayMs(tmp / "f", by_close, 30));
    }
    std::sort(delays.begin(), delays.end());
    const std::string how = by_close ? "close" : "LOCK_UN";
    MESSAGE(how << ": median " << delays[3] << " ms");
    CHECK(delays[3] < 20);
  }
}

}  // namespace
}  // namespace defender::testing
