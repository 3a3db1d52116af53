#include "common/lock_wait.h"

#include <poll.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <thread>

namespace defender {
namespace {

using Clock = std::chrono::steady_clock;

// Tries after a close before waiting for the next one (see WaitFlock).
constexpr int kQuickTries = 16;

// One try: 1 taken, 0 busy, -1 failed (errno set).
int TryFlock(int fd, int op) {
  if (flock(fd, op | LOCK_NB) == 0) return 1;
  return errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

// An inotify descriptor watching closes of `fd`'s file, or -1.
int WatchCloses(int fd) {
  const int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
  if (in < 0) return -1;
  char path[32];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  if (inotify_add_watch(in, path, IN_CLOSE) < 0) {
    close(in);
    return -1;
  }
  return in;
}

}  // namespace

bool WaitFlock(int fd, int op, int timeout_ms, int recheck_ms) {
  int got = TryFlock(fd, op);
  if (got != 0) return got == 1;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(timeout_ms);
  // Watching starts before the next try, so no close between the two is
  // missed.
  const int in = WatchCloses(fd);
  auto pause = std::chrono::microseconds(20);
  // Tries left before sleeping in poll() again: the kernel reports a close
  // just before it drops the closed file's locks, so the waiter woken by a
  // holder that did not unlock first may find the lock still held for a
  // few microseconds.
  int quick = 0;
  while ((got = TryFlock(fd, op)) == 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) {
      errno = ETIMEDOUT;
      break;
    }
    if (in >= 0 && quick == 0) {
      pollfd p{in, POLLIN, 0};
      const int wait =
          static_cast<int>(std::min<long long>(left.count() + 1, recheck_ms));
      if (poll(&p, 1, wait) > 0) {
        alignas(inotify_event) char events[1024];
        while (read(in, events, sizeof events) > 0) {
        }
        quick = kQuickTries;
        pause = std::chrono::microseconds(20);
      }
    } else if (in >= 0) {
      --quick;
      sched_yield();
    } else {
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::microseconds(1000));
    }
  }
  const int saved = errno;
  if (in >= 0) close(in);
  errno = saved;
  return got == 1;
}

}  // namespace defender
