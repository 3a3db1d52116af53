// The clock defenderctl decides by. The installed program reads the system
// clock; the test build (defenderctl_testclock, never installed) reads
// PAM_DEFENDER_TEST_NOW like pam_defender_testclock.so, so that tests move
// time for the module and the CLI together.
#ifndef PAM_DEFENDER_DEFENDERCTL_CLI_CLOCK_H_
#define PAM_DEFENDER_DEFENDERCTL_CLI_CLOCK_H_

#include "common/clock.h"

namespace defender::ctl {

const Clock& CliClock();

// The firewall guard admits loopback and this machine's own addresses only
// in the test build, and only with PAM_DEFENDER_TEST_FIREWALL_LOCAL=1; the
// installed program always returns false.
bool FirewallAllowsLocalForTests();

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_CLI_CLOCK_H_
