// WaitFlock: bounded, woken by the holder's close rather than by polling,
// still taking a lock released without a close, and leaving no descriptor.
#include "common/lock_wait.h"

#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/file.h>
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

int OpenDescriptors() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  REQUIRE(d != nullptr);
  while (readdir(d) != nullptr) ++n;
  closedir(d);
  return n;
}

// How long WaitFlock took after the holder released the lock (closing its
// descriptor, or with LOCK_UN), the holder keeping it `hold_ms`; the
// waiter's recheck interval is `recheck_ms`.
double WakeDelayMs(const std::string& path, bool by_close, int hold_ms,
                   int recheck_ms) {
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
  const bool got = WaitFlock(waiter, LOCK_EX, 5000, recheck_ms);
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
  const Clock::time_point t = Clock::now();
  CHECK(WaitFlock(a, LOCK_SH, 1000));
  CHECK(WaitFlock(b, LOCK_SH, 1000));
  CHECK(MsSince(t) < 500);
  const int c = OpenFile(tmp / "f");
  CHECK_FALSE(WaitFlock(c, LOCK_EX, 0));
  CHECK(errno == ETIMEDOUT);
  close(a);
  close(b);
  close(c);
}

TEST_CASE("WaitFlock: a lock never released times out, leaving no descriptor") {
  TempDir tmp;
  const int holder = OpenFile(tmp / "f");
  REQUIRE(flock(holder, LOCK_EX) == 0);
  const int waiter = OpenFile(tmp / "f");
  const int before = OpenDescriptors();
  const Clock::time_point t = Clock::now();
  errno = 0;
  CHECK_FALSE(WaitFlock(waiter, LOCK_EX, 300));
  CHECK(errno == ETIMEDOUT);
  const double took = MsSince(t);
  CHECK(took >= 300);
  CHECK(took < 3000);
  CHECK(OpenDescriptors() == before);
  close(holder);
  close(waiter);
}

// With a recheck interval of 1 s, a waiter that polled would wake about
// 500 ms after the release on average; one woken by the close wakes at
// once. The median of 7 rounds keeps one slow wake-up on a busy machine
// from failing the test.
TEST_CASE("WaitFlock: the holder's close wakes the waiter at once") {
  TempDir tmp;
  std::vector<double> delays;
  for (int i = 0; i < 7; ++i) {
    delays.push_back(WakeDelayMs(tmp / "f", /*by_close=*/true, 50, 1000));
  }
  std::sort(delays.begin(), delays.end());
  MESSAGE("median wake-up after the close: " << delays[3] << " ms");
  CHECK(delays[3] < 100);
}

// A lock released without a close (LOCK_UN) raises no inotify event: the
// recheck takes it, within one interval.
TEST_CASE("WaitFlock: a lock released without a close is taken at a recheck") {
  TempDir tmp;
  const double delay = WakeDelayMs(tmp / "f", /*by_close=*/false, 50, 200);
  MESSAGE("taken " << delay << " ms after LOCK_UN");
  CHECK(delay < 2000);  // Not the 5 s timeout.
}

}  // namespace
}  // namespace defender::testing
