#include "common/lock_wait.h"

#include <sched.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <thread>

namespace defender {
namespace {

using Clock = std::chrono::steady_clock;

// One try: 1 taken, 0 busy, -1 failed (errno set).
int TryFlock(int fd, int op) {
  if (FlockNoWait(fd, op)) return 1;
  return errno == EWOULDBLOCK ? 0 : -1;
}

}  // namespace

bool FlockNoWait(int fd, int op) {
  int rc;
  while ((rc = flock(fd, op | LOCK_NB)) != 0 && errno == EINTR) {
  }
  return rc == 0;
}

Clock::time_point WaitBudget::Deadline(Clock::time_point now) {
  if (!deadline_) deadline_ = now + std::chrono::milliseconds(timeout_ms_);
  return *deadline_;
}

bool WaitFlock(int fd, int op, int timeout_ms) {
  WaitBudget budget(timeout_ms);
  return WaitFlock(fd, op, &budget);
}

bool WaitFlock(int fd, int op, WaitBudget* budget) {
  int got = TryFlock(fd, op);
  if (got != 0) return got == 1;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = budget->Deadline(start);
  const Clock::time_point spin_until =
      start + std::chrono::microseconds(kLockSpinUs);
  auto pause = std::chrono::microseconds(20);
  while ((got = TryFlock(fd, op)) == 0) {
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      budget->AddWaited(now - start);
      errno = ETIMEDOUT;
      return false;
    }
    if (now < spin_until) {
      sched_yield();
      continue;
    }
    std::this_thread::sleep_for(
        std::min<Clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
  budget->AddWaited(Clock::now() - start);
  return got == 1;
}

}  // namespace defender
