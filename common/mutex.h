// A process-wide mutex for the module's few globals, over pthreads.
//
// std::mutex reports a failed lock by throwing std::system_error, and the
// library code that throws it, linked into the module with the static C++
// runtime, constructs error categories when the module is loaded and
// destroys them when it is unloaded: code and pages touched in every login
// whether or not it locks anything (bench/README.md, "Where the time goes";
// tests/pam/load_time_code_test.py). This one is trivially constructed and
// destroyed, and a lock that fails (only on a corrupted mutex) is ignored as
// the C library's own locks ignore it.
#ifndef PAM_DEFENDER_COMMON_MUTEX_H_
#define PAM_DEFENDER_COMMON_MUTEX_H_

#include <pthread.h>

namespace defender {

class Mutex {
 public:
  constexpr Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() { pthread_mutex_lock(&mu_); }
  void Unlock() { pthread_mutex_unlock(&mu_); }

 private:
  pthread_mutex_t mu_ = PTHREAD_MUTEX_INITIALIZER;
};

// Holds `mu` for its scope.
class MutexLock {
 public:
  explicit MutexLock(Mutex* mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_MUTEX_H_
