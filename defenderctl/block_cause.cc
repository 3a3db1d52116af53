#include "defenderctl/block_cause.h"

#include "common/normalize.h"
#include "defenderctl/output.h"

namespace defender::ctl {

BlockCauses::BlockCauses(std::span<const StoreEntry> entries) {
  for (const StoreEntry& e : entries) {
    if (e.state.blocked) wanted_.emplace(e.subject.kind, e.subject.name);
  }
}

void BlockCauses::TakeFor(SubjectKind kind, const std::string& name,
                          const Attempt& a, const std::string& peer) {
  CauseKey key{kind, name};
  if (wanted_.count(key) != 0 && found_.count(key) == 0) {
    found_.emplace(std::move(key), BlockCause{a.service, peer, a.time});
  }
}

bool BlockCauses::Take(const Attempt& a) {
  // Newest first: the first one wins.
  if (!a.user.empty()) TakeFor(SubjectKind::kUser, a.user, a, a.host);
  if (!a.host.empty()) TakeFor(SubjectKind::kHost, a.host, a, a.user);
  return found_.size() < wanted_.size();
}

std::string DescribeCause(SubjectKind kind, const BlockCause& cause) {
  if (cause.peer.empty()) return DisplayName(cause.service);
  return DisplayName(cause.service) +
         (kind == SubjectKind::kHost ? " as " : " from ") +
         DisplayName(cause.peer);
}

}  // namespace defender::ctl
