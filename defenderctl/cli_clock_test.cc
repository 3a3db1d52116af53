// Test build only: PAM_DEFENDER_TEST_NOW (epoch seconds) sets the time.
#include "defenderctl/cli_clock.h"

#include <cstdlib>
#include <cstring>

#include "common/env_clock.h"

namespace defender::ctl {

const Clock& CliClock() {
  static const EnvClock clock;
  return clock;
}

bool FirewallAllowsLocalForTests() {
  const char* v = std::getenv("PAM_DEFENDER_TEST_FIREWALL_LOCAL");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace defender::ctl
