// `defenderctl firewall watch`: keeps the firewall matching the store for
// as long as it runs (doc/DESIGN.md §15). With Redis it SUBSCRIBEs to
// <key_prefix>:events and re-reads each host an event names at once; it
// re-syncs everything every firewall.resync_seconds and after every
// (re)subscription, since Pub/Sub loses what is published while it is not
// connected; it reconnects with a backoff of 0.25, 0.5, 1 ... 30 s. With the
// local store it re-syncs every resync_seconds (the module's hooks run
// `firewall add|del` for each event). Ends on SIGTERM or SIGINT; SIGHUP
// makes it sync everything at once (systemctl reload).
#ifndef PAM_DEFENDER_DEFENDERCTL_FIREWALL_WATCH_H_
#define PAM_DEFENDER_DEFENDERCTL_FIREWALL_WATCH_H_

#include "defenderctl/context.h"
#include "defenderctl/firewall_sync.h"

namespace defender::ctl {

// Runs until stopped; returns the exit code (kExitOk when stopped by a
// signal). Logs on stderr, one line per change or problem.
int WatchFirewall(Context* ctx, const SyncTarget& target);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_FIREWALL_WATCH_H_
