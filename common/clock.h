// Time source for everything that decides by time. The policy, the stores
// and the CLI take a Clock so that tests can move time instead of sleeping.
#ifndef PAM_DEFENDER_COMMON_CLOCK_H_
#define PAM_DEFENDER_COMMON_CLOCK_H_

#include <cstdint>

namespace defender {

class Clock {
 public:
  virtual ~Clock() = default;
  // Returns the current time in whole seconds since the Unix epoch (UTC).
  virtual int64_t Now() const = 0;
  // True when Now() is this machine's real time, not one a test set. The
  // Redis store then decides by the server's clock instead (one clock for
  // the fleet; see RedisStoreOptions::server_clock).
  virtual bool IsRealTime() const { return false; }
};

// Wall-clock time from CLOCK_REALTIME.
class SystemClock final : public Clock {
 public:
  int64_t Now() const override;
  bool IsRealTime() const override { return true; }
};

// A clock that only moves when told to. For tests.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now = 1'700'000'000) : now_(now) {}
  int64_t Now() const override { return now_; }
  void Set(int64_t now) { now_ = now; }
  void Advance(int64_t seconds) { now_ += seconds; }

 private:
  int64_t now_;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_CLOCK_H_
