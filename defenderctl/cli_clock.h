// The clock defenderctl decides by, and the state directory where it finds
// the module's compiled configurations (doc/DESIGN.md §11.1). The installed
// program reads the system clock and uses the built-in state directory; the
// test build (defenderctl_testclock, never installed) reads
// PAM_DEFENDER_TEST_NOW and PAM_DEFENDER_TEST_STATEDIR like
// pam_defender_testclock.so, so that tests move time for the module and the
// CLI together.
#ifndef PAM_DEFENDER_DEFENDERCTL_CLI_CLOCK_H_
#define PAM_DEFENDER_DEFENDERCTL_CLI_CLOCK_H_

#include <string>

#include "common/clock.h"

namespace defender::ctl {

const Clock& CliClock();
std::string CliStateDir();

// The firewall guard admits loopback and this machine's own addresses only
// in the test build, and only with PAM_DEFENDER_TEST_FIREWALL_LOCAL=1; the
// installed program always returns false.
bool FirewallAllowsLocalForTests();

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_CLI_CLOCK_H_
