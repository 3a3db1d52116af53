#include "defenderctl/block_cause.h"

#include "defenderctl/output.h"

namespace defender::ctl {

std::map<CauseKey, BlockCause> FindBlockCauses(
    std::span<const StoreEntry> entries, std::span<const Attempt> failures) {
  std::map<CauseKey, BlockCause> wanted;
  for (const StoreEntry& e : entries) {
    if (e.state.blocked)
      wanted.emplace(CauseKey{e.subject.kind, e.subject.name}, BlockCause{});
  }
  std::map<CauseKey, BlockCause> found;
  const auto take = [&](SubjectKind kind, const std::string& name,
                        const Attempt& a, const std::string& peer) {
    const CauseKey key{kind, name};
    if (wanted.count(key) != 0 && found.count(key) == 0) {
      found.emplace(key, BlockCause{a.service, peer, a.time});
    }
  };
  for (const Attempt& a : failures) {  // Newest first: the first one wins.
    if (found.size() == wanted.size()) break;
    if (!a.user.empty()) take(SubjectKind::kUser, a.user, a, a.host);
    if (!a.host.empty()) take(SubjectKind::kHost, a.host, a, a.user);
  }
  return found;
}

std::string DescribeCause(SubjectKind kind, const BlockCause& cause) {
  if (cause.peer.empty()) return NameCell(cause.service);
  return NameCell(cause.service) +
         (kind == SubjectKind::kHost ? " as " : " from ") +
         NameCell(cause.peer);
}

}  // namespace defender::ctl
