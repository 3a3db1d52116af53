// Test build only: PAM_DEFENDER_TEST_NOW (epoch seconds) sets the time.
#include "defenderctl/cli_clock.h"

#include "common/env_clock.h"

namespace defender::ctl {

const Clock& CliClock() {
  static const EnvClock clock;
  return clock;
}

}  // namespace defender::ctl
