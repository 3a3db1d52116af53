// Waiting for a record file's flock without hanging a login: a process
// holding the lock may be stopped for good (a suspended su), so a wait is
// bounded, and the module may not use a timer signal in someone else's
// process, so the bound is not an alarm: the lock is tried without
// blocking. A waiter first yields the CPU between tries for up to
// kLockSpinUs (a step holds its locks for tens of microseconds, and a
// waiter that sleeps would wake long after the lock was freed), then
// sleeps between tries, 20 µs doubling up to 1 ms, until the timeout.
//
// Measured against a blocking flock(LOCK_EX) and a wait woken by inotify
// on the holder's close (bench/README.md, "Lock waits"), this gives the
// most locks per second at 8 and 32 waiters and the shortest tail.
#ifndef PAM_DEFENDER_COMMON_LOCK_WAIT_H_
#define PAM_DEFENDER_COMMON_LOCK_WAIT_H_

#include <chrono>
#include <cstdint>
#include <optional>

namespace defender {

// How long a waiter yields before it starts to sleep between tries.
inline constexpr int kLockSpinUs = 500;

// One try at flock(fd, op | LOCK_NB), again if a signal interrupts it.
// False with errno set: EWOULDBLOCK when another holds the lock.
bool FlockNoWait(int fd, int op);

// A bound on several waits together (all the lock waits of one store
// call, which may wait for one lock, let go, and wait for another): the
// first wait that finds its lock busy starts the clock, and each later one
// may wait only what the earlier ones left. Costs nothing while no lock is
// busy. Not for use by two threads at once.
class WaitBudget {
 public:
  explicit WaitBudget(int timeout_ms) : timeout_ms_(timeout_ms) {}

  // When every wait must have ended; the first call starts the clock at
  // `now`.
  std::chrono::steady_clock::time_point Deadline(
      std::chrono::steady_clock::time_point now);
  // How long the waits on this budget have lasted in all, from a lock found
  // busy to it taken or the time run out (WaitFlock adds each).
  std::chrono::steady_clock::duration waited() const { return waited_; }
  void AddWaited(std::chrono::steady_clock::duration d) { waited_ += d; }

 private:
  int timeout_ms_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  std::chrono::steady_clock::duration waited_{};
};

// `now` (epoch seconds, read before some lock waits) moved on by the whole
// seconds those waits lasted (`waited`, WaitBudget::waited()): the time at
// which the waiter got its locks, never later than the real one. Also the
// time at which a Redis call that failed gave up (FallbackStore).
inline int64_t MovedOnBy(int64_t now,
                         std::chrono::steady_clock::duration waited) {
  return now + std::chrono::duration_cast<std::chrono::seconds>(waited).count();
}

// flock(fd, op) (LOCK_SH or LOCK_EX), waiting at most until
// budget->Deadline() (a lock that is free is taken even when no time is
// left). False with errno set on failure: ETIMEDOUT when the time ran out,
// else flock's. Opens nothing; changes no signal disposition.
bool WaitFlock(int fd, int op, WaitBudget* budget);

// The same, with a budget of its own of `timeout_ms`.
bool WaitFlock(int fd, int op, int timeout_ms);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_LOCK_WAIT_H_
