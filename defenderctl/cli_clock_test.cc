// Test build only: PAM_DEFENDER_TEST_NOW (epoch seconds) sets the time.
#include "defenderctl/cli_clock.h"

#include <cstdlib>
#include <cstring>

#include "common/env_clock.h"
#include "defender_build_config.h"

namespace defender::ctl {

const Clock& CliClock() {
  static const EnvClock clock;
  return clock;
}

std::string CliStateDir() {
  const char* dir = getenv("PAM_DEFENDER_TEST_STATEDIR");
  return dir ? dir : DEFENDER_STATEDIR;
}

bool FirewallAllowsLocalForTests() {
  const char* v = std::getenv("PAM_DEFENDER_TEST_FIREWALL_LOCAL");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace defender::ctl
