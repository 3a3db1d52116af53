#include "defender_build_config.h"
#include "defenderctl/cli_clock.h"

namespace defender::ctl {

const Clock& CliClock() {
  static const SystemClock clock;
  return clock;
}

std::string CliStateDir() { return DEFENDER_STATEDIR; }
bool FirewallAllowsLocalForTests() { return false; }

}  // namespace defender::ctl
