// Why a subject is blocked (doc/DESIGN.md §12), for `list`: the failure
// that blocked it, read from the attempt archive. A blocked subject's
// later attempts are logged "refused", not "failure", so the latest failure
// of the subject is the one that blocked it (or the last before a manual
// block).
#ifndef PAM_DEFENDER_DEFENDERCTL_BLOCK_CAUSE_H_
#define PAM_DEFENDER_DEFENDERCTL_BLOCK_CAUSE_H_

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <string>
#include <utility>

#include "common/attempt_log.h"
#include "common/store.h"

namespace defender::ctl {

// The failure that blocked a subject: its service, and the other side of
// the attempt (the host for a user, the user for a host; empty for a
// local login or a pair), and its time.
struct BlockCause {
  std::string service;
  std::string peer;
  int64_t time = 0;
};

using CauseKey = std::pair<SubjectKind, std::string>;

// For each blocked subject of `entries`, its cause among the archive's
// failures, given newest first to Take. Subjects with no failure there are
// absent from causes().
class BlockCauses {
 public:
  explicit BlockCauses(std::span<const StoreEntry> entries);
  // Takes the next failure; false once every blocked subject has its cause
  // (the rest need not be read).
  bool Take(const Attempt& failure);
  const std::map<CauseKey, BlockCause>& causes() const { return found_; }

 private:
  void TakeFor(SubjectKind kind, const std::string& name, const Attempt& a,
               const std::string& peer);

  std::set<CauseKey> wanted_;  // The blocked subjects.
  std::map<CauseKey, BlockCause> found_;
};

// "sshd from 203.0.113.7", "sshd as alice", "sshd" (what `list` prints),
// the service and the peer through DisplayName (normalize.h).
std::string DescribeCause(SubjectKind kind, const BlockCause& cause);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_BLOCK_CAUSE_H_
