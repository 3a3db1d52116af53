#include "defender_build_config.h"
#include "defenderctl/cli_clock.h"

namespace defender::ctl {

const Clock& CliClock() {
  static const SystemClock clock;
  return clock;
}

std::string CliStateDir() { return DEFENDER_STATEDIR; }

}  // namespace defender::ctl
