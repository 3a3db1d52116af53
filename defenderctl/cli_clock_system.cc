#include "defenderctl/cli_clock.h"

namespace defender::ctl {

const Clock& CliClock() {
  static const SystemClock clock;
  return clock;
}

bool FirewallAllowsLocalForTests() { return false; }

}  // namespace defender::ctl
