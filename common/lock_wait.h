// Waiting for a record file's flock without hanging a login: a process
// holding the lock may be stopped for good (a suspended su), so a wait is
// bounded, and the module may not use a timer signal in someone else's
// process, so the bound is not an alarm.
//
// A holder of a record file's lock releases it when it closes the file
// (a Store step unlocks, then closes; a process that dies closes). So a
// waiter watches the file with inotify for IN_CLOSE, tries the lock again,
// and sleeps in poll() until a close or at most kLockRecheckMs: it wakes as
// soon as the lock can be free, as a blocking flock would, and spends no
// CPU while it waits. After a close it tries a few more times, yielding the
// CPU in between (the kernel reports a close just before it drops the
// closed file's locks). Without inotify (no /proc, or the instance limit
// reached) it polls the lock with a backoff up to 1 ms.
#ifndef PAM_DEFENDER_COMMON_LOCK_WAIT_H_
#define PAM_DEFENDER_COMMON_LOCK_WAIT_H_

namespace defender {

// The longest sleep between two tries while watching: a lock released
// another way (a process that shares the descriptor exits) is still taken
// within this.
inline constexpr int kLockRecheckMs = 10;

// flock(fd, op) (LOCK_SH or LOCK_EX), waiting at most `timeout_ms`. False
// with errno set on failure: ETIMEDOUT when the time ran out, else flock's.
// Creates and closes at most one inotify descriptor (O_CLOEXEC); changes no
// signal disposition.
// `recheck_ms` is kLockRecheckMs but in tests.
bool WaitFlock(int fd, int op, int timeout_ms, int recheck_ms = kLockRecheckMs);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_LOCK_WAIT_H_
