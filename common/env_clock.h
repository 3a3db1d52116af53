// The clock of the test builds (pam_defender_testclock.so and
// defenderctl_testclock, never installed): PAM_DEFENDER_TEST_NOW (epoch
// seconds) sets the time, so that tests move time for the module and the
// CLI together; without it, the system clock. Header only, and included only
// by test-build sources, so that no installed binary reads the variable.
#ifndef PAM_DEFENDER_COMMON_ENV_CLOCK_H_
#define PAM_DEFENDER_COMMON_ENV_CLOCK_H_

#include <cstdint>
#include <cstdlib>

#include "common/clock.h"

namespace defender {

class EnvClock final : public Clock {
 public:
  int64_t Now() const override {
    const char* s = getenv("PAM_DEFENDER_TEST_NOW");
    return s ? strtoll(s, nullptr, 10) : SystemClock().Now();
  }
  bool IsRealTime() const override {
    return getenv("PAM_DEFENDER_TEST_NOW") == nullptr;
  }
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_ENV_CLOCK_H_
