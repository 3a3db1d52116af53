// Announces block and unblock events made by defenderctl the way the module
// announces its own (doc/DESIGN.md §3.11): one syslog line (LOG_AUTHPRIV) and
// the configured hook, detached, with DEFENDER_SERVICE=defenderctl.
#ifndef PAM_DEFENDER_DEFENDERCTL_ANNOUNCE_H_
#define PAM_DEFENDER_DEFENDERCTL_ANNOUNCE_H_

#include "common/config.h"
#include "common/policy.h"

namespace defender::ctl {

inline constexpr char kService[] = "defenderctl";

// Logs `e` and starts the on_block/on_unblock hook. A hook that cannot be
// started is reported on stderr as a warning; it never fails the command.
// At most 8 of the hooks a command starts run at once: the next one waits
// for one of them to end (the command becomes their subreaper; it does not
// wait for the last ones).
void Announce(const Config& cfg, const Event& e);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_ANNOUNCE_H_
