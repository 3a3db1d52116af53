// Making the firewall's sets match the store (doc/DESIGN.md §15): the
// whole of it (`firewall sync`, the watcher's periodic re-sync) or one
// subject named by a hint (an event, `firewall add|del`). Only what the
// store says counts; every element passes the FirewallGuard; the sets hold
// at most max_elements (permanent blocks first, then the longest; in a full
// sync each family is first given up to half of them).
#ifndef PAM_DEFENDER_DEFENDERCTL_FIREWALL_SYNC_H_
#define PAM_DEFENDER_DEFENDERCTL_FIREWALL_SYNC_H_

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/store.h"
#include "defenderctl/firewall.h"
#include "defenderctl/firewall_guard.h"

namespace defender::ctl {

// An element whose timeout is within this many seconds of the wanted one
// is left alone (the kernel counts down; a re-sync must not churn).
inline constexpr int64_t kTimeoutSlackSeconds = 2;

struct SyncChanges {
  bool created = false;  // The table was missing.
  std::vector<FirewallElement> added;
  std::vector<FirewallElement> updated;  // New timeout.
  std::vector<FirewallElement> removed;
  // Blocked host subjects not admitted, with the reason.
  std::vector<std::pair<std::string, std::string>> refused;
  int64_t over_cap = 0;  // Admitted hosts left out by max_elements.
  // FirewallGuard::off() of a full sync: no host is dropped, and the sets
  // were emptied (the store is not read; `refused` lists nothing).
  std::string off;
  size_t elements = 0;  // In the sets afterwards.
  // SyncHosts: admitted hosts that the store does not block and that the
  // sets did not hold (nothing to do: a forged or stale block event).
  std::vector<std::string> not_blocked;
  // SyncHosts: subjects whose state could not be read, with the store's
  // error; their elements are left as they are (the next full sync
  // catches up).
  std::vector<std::pair<std::string, std::string>> unread;
};

// Keeps in c->refused only the subjects that `seen` does not hold, and sets
// `seen` to this sync's refused subjects (at most `limit` of them): a
// watcher says why a blocked host is not dropped once, when it first sees
// it, not at each re-sync (a thousand blocked host names would otherwise
// log a thousand lines a minute). A subject refused again after a sync
// without it is reported again.
void KeepNewRefusals(SyncChanges* c, std::set<std::string>* seen,
                     size_t limit = 10000);

struct SyncTarget {
  Firewall* firewall;
  Store* store;
  const FirewallGuard* guard;
  int64_t max_elements;
  // The directory (kFirewallLockDir, checked: OpenStateDir) of the lock
  // file `lock_file` that every sync of this machine for one table holds
  // from its read of the store to its change of the sets; -1: none
  // (tests). Without it a hook's `firewall add` could add an element
  // between a full sync's read of the store and its rebuild of a set, which
  // would drop it again. The file must be a regular file owned by the
  // effective uid and not readable or writable by group or others (a user
  // who could open it could hold the lock and stop every sync).
  int lock_dir_fd = -1;
  std::string lock_file;
  // How long a sync waits for that lock before it fails.
  int lock_timeout_ms = 30'000;
};

// Where the locks are: not in store.dir, which a Redis store does not need.
inline constexpr char kFirewallLockDir[] = "/run/pam_defender";

// The lock file's name for table `table` (firewall.table: letters, digits
// and '_').
std::string FirewallLockFile(const std::string& table);

// Ensures the table and makes both sets hold exactly the admitted blocked
// hosts of the store at `now`, in one transaction.
bool SyncAll(const SyncTarget& t, int64_t now, SyncChanges* changes,
             std::string* err);

// Re-reads each host of `subjects` in the store and adds, updates or
// removes its element, with one listing of the sets and one transaction
// for them all (a burst of events costs what one does). *present is set to
// how many elements the sets hold afterwards. The table must exist. A
// subject the guard refuses is never added (and removed if present):
// *changes->refused says why. Hosts beyond max_elements are counted in
// over_cap, in the order given. A subject whose state the store cannot
// read is left as it is and listed in changes->unread; false, with *err the
// store's error, only when no subject named could be read.
bool SyncHosts(const SyncTarget& t, std::span<const std::string> subjects,
               int64_t now, size_t* present, SyncChanges* changes,
               std::string* err);

// SyncHosts of one host.
inline bool SyncOne(const SyncTarget& t, const std::string& subject,
                    int64_t now, size_t* present, SyncChanges* changes,
                    std::string* err) {
  return SyncHosts(t, {&subject, 1}, now, present, changes, err);
}

// "+ 192.0.2.7 (300s)" lines for `firewall sync` and the watcher's log.
std::string DescribeChanges(const SyncChanges& c);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_FIREWALL_SYNC_H_
