#include "defenderctl/cli_clock.h"

namespace defender::ctl {

const Clock& CliClock() {
  static const SystemClock clock;
  return clock;
}

}  // namespace defender::ctl
