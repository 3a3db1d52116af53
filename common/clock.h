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

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_CLOCK_H_
